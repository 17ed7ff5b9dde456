// MotionBridge for Unity: the directing fields of `generate` (protocol v1.1: start, keys, path, end, segments).
using System;
using System.Collections.Generic;
using MotionBridge.MessagePack;

namespace MotionBridge.Protocol
{
    /// <summary>
    /// `start`: the motion a clip continues. Either the last frames of a motion this client holds (in the
    /// request's target convention, e.g. a clip sampled on the avatar) or the end of a finished job of the same
    /// daemon. Frame 0 of the result equals the last given frame.
    /// </summary>
    public sealed class StartMotion
    {
        private StartMotion()
        {
        }

        /// <summary>Frames × 3 root positions; null for a job start.</summary>
        public float[] Root { get; private set; }

        /// <summary>Frames × joints × 4 local quaternions (x, y, z, w) relative to the rest pose; null for a job start.</summary>
        public float[] Rotations { get; private set; }

        public int Frames { get; private set; }

        public string Job { get; private set; }

        public int Sample { get; private set; }

        public bool IsJob
        {
            get { return Job != null; }
        }

        /// <summary>The last <paramref name="frames"/> frames of a motion; more than one lets the daemon carry the velocity on.</summary>
        public static StartMotion FromFrames(float[] root, float[] rotations, int frames)
        {
            if (frames < 1)
            {
                throw new ArgumentOutOfRangeException("frames", "a start motion needs at least one frame");
            }
            if (root == null || root.Length != frames * 3)
            {
                throw new ArgumentException("root must hold frames × 3 floats (" + frames * 3 + ")", "root");
            }
            if (rotations == null || rotations.Length == 0 || rotations.Length % (frames * 4) != 0)
            {
                throw new ArgumentException("rotations must hold frames × joints × 4 floats", "rotations");
            }
            return new StartMotion { Root = root, Rotations = rotations, Frames = frames };
        }

        /// <summary>The end of sample <paramref name="sample"/> of a finished job of this daemon.</summary>
        public static StartMotion FromJob(string job, int sample)
        {
            if (string.IsNullOrEmpty(job))
            {
                throw new ArgumentException("job is empty", "job");
            }
            if (sample < 0)
            {
                throw new ArgumentOutOfRangeException("sample", "sample cannot be negative");
            }
            return new StartMotion { Job = job, Sample = sample };
        }

        public MessagePackMap ToMap()
        {
            if (IsJob)
            {
                return new MessagePackMap().Add("job", Job).Add("sample", (long)Sample);
            }
            return new MessagePackMap().Add("motion", new MessagePackMap()
                .Add("root", LittleEndianFloats.ToBytes(Root))
                .Add("rotations", LittleEndianFloats.ToBytes(Rotations))
                .Add("frames", (long)Frames));
        }
    }

    /// <summary>A pose of a key or of `end`: J × 4 local quaternions, and the root position or null (root free).</summary>
    public sealed class DirectedPose
    {
        public DirectedPose(float[] rotations, double[] root)
        {
            if (rotations == null || rotations.Length == 0 || rotations.Length % 4 != 0)
            {
                throw new ArgumentException("rotations must hold joints × 4 floats", "rotations");
            }
            if (root != null && root.Length != 3)
            {
                throw new ArgumentException("root must be [x, y, z]", "root");
            }
            Rotations = rotations;
            Root = root;
        }

        public float[] Rotations { get; private set; }

        public double[] Root { get; private set; }

        public MessagePackMap ToMap()
        {
            var map = new MessagePackMap().Add("rotations", LittleEndianFloats.ToBytes(Rotations));
            if (Root != null)
            {
                map.Add("root", Directions.Vector(Root));
            }
            return map;
        }
    }

    /// <summary>`keys[i]`: a pose (of all or the listed joints) or an effector's world position, at a time.</summary>
    public sealed class MotionKey
    {
        private MotionKey()
        {
        }

        public double Time { get; private set; }

        public double Weight { get; private set; }

        public DirectedPose Pose { get; private set; }

        /// <summary>Joint names of the target the pose applies to; null = the whole body.</summary>
        public string[] Joints { get; private set; }

        public string Effector { get; private set; }

        public double[] Position { get; private set; }

        public static MotionKey ForPose(double time, DirectedPose pose, string[] joints, double weight)
        {
            if (pose == null)
            {
                throw new ArgumentNullException("pose");
            }
            return new MotionKey { Time = time, Pose = pose, Joints = joints, Weight = weight };
        }

        public static MotionKey ForEffector(double time, string effector, double[] position, double weight)
        {
            if (string.IsNullOrEmpty(effector))
            {
                throw new ArgumentException("effector is empty", "effector");
            }
            if (position == null || position.Length != 3)
            {
                throw new ArgumentException("position must be [x, y, z]", "position");
            }
            return new MotionKey { Time = time, Effector = effector, Position = position, Weight = weight };
        }

        public MessagePackMap ToMap()
        {
            var map = new MessagePackMap().Add("time", Time);
            if (Pose != null)
            {
                map.Add("pose", Pose.ToMap());
                if (Joints != null)
                {
                    map.Add("joints", new List<object>(Joints));
                }
            }
            else
            {
                map.Add("effector", Effector).Add("position", Directions.Vector(Position));
            }
            return map.Add("weight", Weight);
        }
    }

    /// <summary>`path[i]`: the root's ground position at a time (the up component is ignored), optionally a heading.</summary>
    public sealed class PathPoint
    {
        public PathPoint(double time, double x, double y, double z, double? facing)
        {
            Time = time;
            Position = new[] { x, y, z };
            Facing = facing;
        }

        public double Time { get; private set; }

        public double[] Position { get; private set; }

        /// <summary>Radians about the up axis, 0 = the target's forward; null leaves the heading free.</summary>
        public double? Facing { get; private set; }

        public MessagePackMap ToMap()
        {
            var map = new MessagePackMap().Add("time", Time).Add("position", Directions.Vector(Position));
            if (Facing.HasValue)
            {
                map.Add("facing", Facing.Value);
            }
            return map;
        }
    }

    /// <summary>`segments[i]`: one stretch of a timeline.</summary>
    public sealed class TimelineSegment
    {
        public TimelineSegment(string prompt, double seconds)
        {
            Prompt = prompt;
            Seconds = seconds;
        }

        public string Prompt { get; private set; }

        public double Seconds { get; private set; }

        public MessagePackMap ToMap()
        {
            return new MessagePackMap().Add("prompt", Prompt).Add("seconds", Seconds);
        }
    }

    /// <summary>`done.segments[i]`: where a timeline segment lies in the clip, in frames.</summary>
    public sealed class SegmentSpan
    {
        public SegmentSpan(int start, int count)
        {
            Start = start;
            Count = count;
        }

        public int Start { get; private set; }

        public int Count { get; private set; }
    }

    /// <summary>Helpers shared by the directing fields.</summary>
    public static class Directions
    {
        /// <summary>[x, y, z] as the wire's array of numbers.</summary>
        public static List<object> Vector(double[] values)
        {
            return new List<object> { values[0], values[1], values[2] };
        }

        /// <summary>Null when every value is finite, else a message naming the field.</summary>
        public static string NonFinite(string field, IEnumerable<double> values)
        {
            foreach (var value in values)
            {
                if (double.IsNaN(value) || double.IsInfinity(value))
                {
                    return field + " must be finite numbers";
                }
            }
            return null;
        }

        /// <summary>Null when every float is finite, else a message naming the field.</summary>
        public static string NonFinite(string field, float[] values)
        {
            foreach (var value in values)
            {
                if (float.IsNaN(value) || float.IsInfinity(value))
                {
                    return field + " must be finite numbers";
                }
            }
            return null;
        }
    }
}
