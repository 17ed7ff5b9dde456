// MotionBridge for Unity: the messages the daemon sends (docs/protocol.md §2 and §4), as typed objects.
using System;
using MotionBridge.MessagePack;

namespace MotionBridge.Protocol
{
    /// <summary>A decoded server message; <see cref="Id"/> is the request id it answers (null for hello/ready).</summary>
    public abstract class ServerMessage
    {
        protected ServerMessage(string op, string id)
        {
            Op = op;
            Id = id;
        }

        public string Op { get; private set; }

        public string Id { get; private set; }
    }

    /// <summary>`model` of hello.</summary>
    public sealed class ModelInfo
    {
        public string Name;
        public int Fps;
        public double MaxSeconds;
        public int DefaultSteps;
        public double DefaultCfg;
        public string Device;
    }

    /// <summary>`skeleton` of hello: names, parents and rest offsets (metres, source convention: right-handed, Y up).</summary>
    public sealed class SkeletonInfo
    {
        public string Name;
        public string[] Joints;
        public int[] Parents;

        /// <summary>J × 3 offsets from the parent joint, flattened; row 0 is the pelvis rest position.</summary>
        public double[] Rest;

        public int JointCount
        {
            get { return Joints.Length; }
        }
    }

    /// <summary>`limits` of hello.</summary>
    public sealed class ServerLimits
    {
        public int MaxPromptChars;
        public double MaxSeconds;
        public int MaxSamples;
        public int MaxSteps;
        public int MaxInflight;
        public int MaxMessageBytes;

        /// <summary>v1.1: the most keys, and separately path points, one generate may carry; 0 when not announced.</summary>
        public int MaxKeys;
    }

    public sealed class HelloMessage : ServerMessage
    {
        public HelloMessage() : base("hello", null)
        {
        }

        public int ProtocolVersion;
        public string Server;
        public string Session;

        /// <summary>"none" or "token".</summary>
        public string Auth;

        public ModelInfo Model;
        public SkeletonInfo Skeleton;
        public ServerLimits Limits;

        /// <summary>Joint names per wire target from the optional `targets` map (same order as the skeleton).</summary>
        public System.Collections.Generic.Dictionary<string, string[]> TargetJoints =
            new System.Collections.Generic.Dictionary<string, string[]>();

        /// <summary>v1.1 `capabilities` (see <see cref="Protocol.Capabilities"/>); empty from a daemon that lists none.</summary>
        public string[] Capabilities = new string[0];

        public bool Serves(string capability)
        {
            return Array.IndexOf(Capabilities, capability) >= 0;
        }

        public bool TokenRequired
        {
            get { return Auth == "token"; }
        }
    }

    public sealed class ReadyMessage : ServerMessage
    {
        public ReadyMessage(string session) : base("ready", null)
        {
            Session = session;
        }

        public string Session { get; private set; }
    }

    public sealed class AcceptedMessage : ServerMessage
    {
        public AcceptedMessage(string id, string job, int queuePosition) : base("accepted", id)
        {
            Job = job;
            QueuePosition = queuePosition;
        }

        public string Job { get; private set; }

        public int QueuePosition { get; private set; }
    }

    public sealed class ProgressMessage : ServerMessage
    {
        public ProgressMessage(string id, string job, int step, int steps, double etaMs) : base("progress", id)
        {
            Job = job;
            Step = step;
            Steps = steps;
            EtaMs = etaMs;
        }

        public string Job { get; private set; }

        public int Step { get; private set; }

        public int Steps { get; private set; }

        /// <summary>Estimated milliseconds left; NaN until the daemon has timed a step.</summary>
        public double EtaMs { get; private set; }

        public float Fraction
        {
            get { return Steps > 0 ? (float)Step / Steps : 0f; }
        }
    }

    /// <summary>
    /// One chunk (or a whole preview) of one sample. <see cref="Root"/> holds Count × 3 floats, <see cref="Rotations"/>
    /// Count × J × 4 floats (x, y, z, w), exactly the bits the daemon sent.
    /// </summary>
    public sealed class MotionMessage : ServerMessage
    {
        public MotionMessage(string id) : base("motion", id)
        {
        }

        public string Job;
        public int Sample;
        public long Seed;
        public bool Preview;
        public bool Final;
        public int Start;
        public int Count;
        public int Total;
        public int Fps;
        public string Target;
        public string[] Joints;
        public float[] Root;
        public float[] Rotations;

        /// <summary>The sampler step a preview shows; -1 on final motion.</summary>
        public int Step = -1;

        /// <summary>
        /// A frame of a live session: <see cref="Start"/> counts frames since the session began and chunks are
        /// contiguous; such motion has no total and is never final.
        /// </summary>
        public bool Live;

        public int JointCount
        {
            get { return Joints.Length; }
        }
    }

    public sealed class Timings
    {
        public double QueueMs;
        public double TextMs;
        public double SampleMs;
        public double DecodeMs;
        public double TotalMs;
    }

    public sealed class DoneMessage : ServerMessage
    {
        public DoneMessage(string id) : base("done", id)
        {
        }

        public string Job;
        public int Samples;
        public int Frames;
        public double Seconds;
        public bool Cached;
        public Timings Timings;

        /// <summary>v1.1: where each timeline segment lies in the clip; null for a request without segments.</summary>
        public SegmentSpan[] Segments;
    }

    /// <summary>`live_state`: the live session follows <see cref="Prompt"/> from frame <see cref="Frame"/> on.</summary>
    public sealed class LiveStateMessage : ServerMessage
    {
        public LiveStateMessage(string id, string prompt, int frame) : base("live_state", id)
        {
            Prompt = prompt;
            Frame = frame;
        }

        public string Prompt { get; private set; }

        public int Frame { get; private set; }
    }

    public sealed class ErrorMessage : ServerMessage
    {
        public ErrorMessage(string id, string code, string message) : base("error", id)
        {
            Code = code;
            Message = message;
        }

        public string Code { get; private set; }

        public string Message { get; private set; }
    }

    public sealed class StatusMessage : ServerMessage
    {
        public StatusMessage(string id) : base("status", id)
        {
        }

        public int Queue;
        public int Running;
        public bool Busy;
        public string Device;
        public string Model;
        public double Uptime;
    }

    /// <summary>An op this client does not know (a newer daemon); kept raw so nothing is silently lost.</summary>
    public sealed class UnknownMessage : ServerMessage
    {
        public UnknownMessage(string op, string id, MessagePackMap map) : base(op, id)
        {
            Map = map;
        }

        public MessagePackMap Map { get; private set; }
    }
}
