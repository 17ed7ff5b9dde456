// MotionBridge for Unity: the messages a client sends (docs/protocol.md §2 and §3, protocol v1.1).
using System;
using System.Collections.Generic;
using MotionBridge.MessagePack;

namespace MotionBridge.Protocol
{
    /// <summary>The settings of one `generate` request; defaults are the protocol's, except target "unity".</summary>
    public sealed class GenerateRequest
    {
        public string Prompt = "";
        public double Seconds = 5.0;
        public long Seed;
        public int Samples = 1;

        /// <summary>Sampler steps; null = the model's default_steps.</summary>
        public int? Steps;

        /// <summary>Classifier-free guidance scale; null = the model's default_cfg.</summary>
        public double? Cfg;

        public string Target = ProtocolConstants.UnityTarget;
        public int PreviewEvery;
        public int ChunkFrames;
        public bool Loop;
        public bool InPlace;

        /// <summary>v1.1 `start` (capability "constraints"): the motion this clip continues; null = none.</summary>
        public StartMotion Start;

        /// <summary>v1.1 `keys` (capability "constraints"); null or empty = none.</summary>
        public List<MotionKey> Keys;

        /// <summary>v1.1 `path` (capability "constraints"): root waypoints in the target's convention; null or empty = none.</summary>
        public List<PathPoint> Path;

        /// <summary>v1.1 `end` (capability "constraints"): the last frame's pose; null = free.</summary>
        public DirectedPose End;

        /// <summary>
        /// v1.1 `segments` (capability "timeline"). With segments the prompt may be empty and the clip lasts their sum
        /// (<see cref="Seconds"/> is then sent as that sum).
        /// </summary>
        public List<TimelineSegment> Segments;

        public bool HasSegments
        {
            get { return Segments != null && Segments.Count > 0; }
        }

        /// <summary>The hello capabilities this request needs (none for a v1 request).</summary>
        public List<string> RequiredCapabilities()
        {
            var needed = new List<string>();
            if (Start != null || (Keys != null && Keys.Count > 0) || (Path != null && Path.Count > 0) || End != null)
            {
                needed.Add(Capabilities.Constraints);
            }
            if (HasSegments)
            {
                needed.Add(Capabilities.Timeline);
            }
            return needed;
        }

        /// <summary>Seconds the clip will last: the segments' sum with a timeline, else <see cref="Seconds"/>.</summary>
        public double ClipSeconds
        {
            get
            {
                if (!HasSegments)
                {
                    return Seconds;
                }
                double sum = 0;
                foreach (var segment in Segments)
                {
                    sum += segment.Seconds;
                }
                return sum;
            }
        }

        /// <summary>
        /// Checks the request against the protocol rules and, when known, the daemon's limits, so the user sees
        /// the problem before anything is sent. Returns null when valid, else a message that says what to change.
        /// </summary>
        public string Validate(ServerLimits limits)
        {
            if (!HasSegments && (Prompt == null || Prompt.Trim().Length == 0))
            {
                return "type a prompt first";
            }
            if (double.IsNaN(Seconds) || double.IsInfinity(Seconds) || Seconds <= 0)
            {
                return "seconds must be a positive number";
            }
            var directing = ValidateDirections();
            if (directing != null)
            {
                return directing;
            }
            if (Seed < 0 || Seed >= (1L << 31))
            {
                return "seed must be between 0 and 2147483647";
            }
            if (Samples < 1)
            {
                return "samples must be at least 1";
            }
            if (Steps.HasValue && Steps.Value < 1)
            {
                return "steps must be at least 1";
            }
            if (Cfg.HasValue && (double.IsNaN(Cfg.Value) || Cfg.Value < 0 || Cfg.Value > 20))
            {
                return "cfg must be between 0 and 20";
            }
            if (PreviewEvery < 0 || ChunkFrames < 0)
            {
                return "preview_every and chunk_frames cannot be negative";
            }
            if (limits == null)
            {
                return null;
            }
            if (Prompt != null && Prompt.Length > limits.MaxPromptChars)
            {
                return "the prompt is longer than the daemon's limit of " + limits.MaxPromptChars + " characters";
            }
            if (ClipSeconds > limits.MaxSeconds)
            {
                return (HasSegments ? "the segments add up to " + ClipSeconds + " s; " : "")
                    + "seconds must be at most " + limits.MaxSeconds + " for this model";
            }
            if (limits.MaxKeys > 0 && Keys != null && Keys.Count > limits.MaxKeys)
            {
                return "at most " + limits.MaxKeys + " keys (the daemon's max_keys)";
            }
            if (limits.MaxKeys > 0 && Path != null && Path.Count > limits.MaxKeys)
            {
                return "at most " + limits.MaxKeys + " path points (the daemon's max_keys)";
            }
            if (Samples > limits.MaxSamples)
            {
                return "samples must be at most " + limits.MaxSamples;
            }
            if (Steps.HasValue && Steps.Value > limits.MaxSteps)
            {
                return "steps must be at most " + limits.MaxSteps;
            }
            return null;
        }

        /// <summary>What the daemon would refuse in the directing fields, said before anything is sent; null if none.</summary>
        private string ValidateDirections()
        {
            if (HasSegments)
            {
                for (int i = 0; i < Segments.Count; i++)
                {
                    var segment = Segments[i];
                    if (segment == null || segment.Prompt == null || segment.Prompt.Trim().Length == 0)
                    {
                        return "segment " + (i + 1) + " has no prompt";
                    }
                    if (double.IsNaN(segment.Seconds) || double.IsInfinity(segment.Seconds) || segment.Seconds <= 0)
                    {
                        return "segment " + (i + 1) + " must last a positive number of seconds";
                    }
                }
            }
            double clip = ClipSeconds;
            if (Path != null)
            {
                for (int i = 0; i < Path.Count; i++)
                {
                    var point = Path[i];
                    var values = new List<double>(point.Position) { point.Time, point.Facing ?? 0 };
                    var problem = Directions.NonFinite("path point " + (i + 1), values);
                    if (problem != null)
                    {
                        return problem;
                    }
                    if (point.Time < 0 || point.Time > clip)
                    {
                        return "path point " + (i + 1) + " at " + point.Time + " s lies outside the clip (0 to " + clip + " s)";
                    }
                }
            }
            if (Start != null && !Start.IsJob)
            {
                return Directions.NonFinite("start root", Start.Root) ?? Directions.NonFinite("start rotations", Start.Rotations);
            }
            return null;
        }

        public MessagePackMap ToMap(string id)
        {
            var map = new MessagePackMap()
                .Add("op", "generate")
                .Add("id", id);
            if (!HasSegments || (Prompt != null && Prompt.Trim().Length > 0))
            {
                map.Add("prompt", Prompt);
            }
            map.Add("seconds", ClipSeconds)
                .Add("seed", Seed)
                .Add("samples", (long)Samples)
                .Add("target", Target)
                .Add("preview_every", (long)PreviewEvery)
                .Add("chunk_frames", (long)ChunkFrames)
                .Add("loop", Loop)
                .Add("in_place", InPlace);
            if (Steps.HasValue)
            {
                map.Add("steps", (long)Steps.Value);
            }
            if (Cfg.HasValue)
            {
                map.Add("cfg", Cfg.Value);
            }
            AddDirections(map);
            return map;
        }

        private void AddDirections(MessagePackMap map)
        {
            if (Start != null)
            {
                map.Add("start", Start.ToMap());
            }
            if (Keys != null && Keys.Count > 0)
            {
                map.Add("keys", Keys.ConvertAll(key => (object)key.ToMap()));
            }
            if (Path != null && Path.Count > 0)
            {
                map.Add("path", Path.ConvertAll(point => (object)point.ToMap()));
            }
            if (End != null)
            {
                map.Add("end", new MessagePackMap().Add("pose", End.ToMap()));
            }
            if (HasSegments)
            {
                map.Add("segments", Segments.ConvertAll(segment => (object)segment.ToMap()));
            }
        }

        /// <summary>A copy whose directing lists are new lists (their items are immutable and shared).</summary>
        public GenerateRequest Clone()
        {
            var copy = (GenerateRequest)MemberwiseClone();
            copy.Keys = Keys == null ? null : new List<MotionKey>(Keys);
            copy.Path = Path == null ? null : new List<PathPoint>(Path);
            copy.Segments = Segments == null ? null : new List<TimelineSegment>(Segments);
            return copy;
        }
    }

    /// <summary>
    /// The settings of a live session (`live_start`, capability "live"): a motion that never ends, streamed
    /// about <see cref="BufferMs"/> ahead of real time, whose prompt can change while it runs.
    /// </summary>
    public sealed class LiveRequest
    {
        public string Prompt = "";
        public string Target = ProtocolConstants.UnityTarget;
        public long Seed;

        /// <summary>How far ahead of real time the daemon keeps the stream, in milliseconds.</summary>
        public int BufferMs = 500;

        /// <summary>Radius the root stays within around where it started (metres for unity/smplh); 0 = anywhere.</summary>
        public double Area;

        /// <summary>Null when valid, else a message that says what to change.</summary>
        public string Validate(ServerLimits limits)
        {
            if (Prompt == null || Prompt.Trim().Length == 0)
            {
                return "type a prompt first";
            }
            if (limits != null && Prompt.Length > limits.MaxPromptChars)
            {
                return "the prompt is longer than the daemon's limit of " + limits.MaxPromptChars + " characters";
            }
            if (Seed < 0 || Seed >= (1L << 31))
            {
                return "seed must be between 0 and 2147483647";
            }
            if (BufferMs < 0)
            {
                return "buffer_ms cannot be negative";
            }
            if (double.IsNaN(Area) || double.IsInfinity(Area) || Area < 0)
            {
                return "the area radius must be 0 (anywhere) or a positive number";
            }
            return null;
        }

        public MessagePackMap ToMap(string id)
        {
            return new MessagePackMap()
                .Add("op", "live_start")
                .Add("id", id)
                .Add("prompt", Prompt)
                .Add("target", Target)
                .Add("seed", Seed)
                .Add("buffer_ms", (long)BufferMs)
                .Add("area", Area);
        }
    }

    /// <summary>Builders for the small client messages.</summary>
    public static class ClientMessages
    {
        public static MessagePackMap Identify(string client, string token)
        {
            var map = new MessagePackMap()
                .Add("op", "identify")
                .Add("protocol", (long)ProtocolConstants.Version)
                .Add("client", client);
            if (!string.IsNullOrEmpty(token))
            {
                map.Add("token", token);
            }
            return map;
        }

        public static MessagePackMap Cancel(string id)
        {
            return new MessagePackMap().Add("op", "cancel").Add("id", id);
        }

        public static MessagePackMap Status(string id)
        {
            return new MessagePackMap().Add("op", "status").Add("id", id);
        }

        /// <summary>`live_prompt`: the live session <paramref name="id"/> follows a new prompt from a frame the daemon names.</summary>
        public static MessagePackMap LivePrompt(string id, string prompt)
        {
            return new MessagePackMap().Add("op", "live_prompt").Add("id", id).Add("prompt", prompt);
        }

        /// <summary>`live_stop`: ends the live session <paramref name="id"/>; the daemon answers with its `done`.</summary>
        public static MessagePackMap LiveStop(string id)
        {
            return new MessagePackMap().Add("op", "live_stop").Add("id", id);
        }

        public static MessagePackMap Fetch(string id, string job, string target)
        {
            var map = new MessagePackMap().Add("op", "fetch").Add("id", id).Add("job", job);
            if (target != null)
            {
                map.Add("target", target);
            }
            return map;
        }
    }
}
