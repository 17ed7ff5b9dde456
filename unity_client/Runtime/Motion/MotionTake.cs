// MotionBridge for Unity: one complete (or preview) motion of one sample, as received.
using System;

namespace MotionBridge.Motion
{
    /// <summary>
    /// An immutable motion: <see cref="FrameCount"/> frames of a root position (3 floats) and
    /// <see cref="JointCount"/> local quaternions (x, y, z, w) in the convention of <see cref="Target"/>.
    /// Arrays are exposed for speed; nobody writes to them after construction.
    /// </summary>
    public sealed class MotionTake
    {
        public MotionTake(string requestId, string job, int sample, long seed, string target, int fps, string[] joints,
            float[] root, float[] rotations, bool isFinal, int previewStep)
        {
            if (joints == null || joints.Length == 0)
            {
                throw new ArgumentException("a motion needs joints");
            }
            if (fps <= 0)
            {
                throw new ArgumentOutOfRangeException("fps", "fps must be positive");
            }
            if (root == null || rotations == null || root.Length % 3 != 0
                || rotations.Length != root.Length / 3 * joints.Length * 4)
            {
                throw new ArgumentException("root must hold frames×3 floats and rotations frames×joints×4 floats");
            }
            RequestId = requestId;
            Job = job;
            Sample = sample;
            Seed = seed;
            Target = target;
            Fps = fps;
            Joints = joints;
            Root = root;
            Rotations = rotations;
            IsFinal = isFinal;
            PreviewStep = previewStep;
        }

        public string RequestId { get; private set; }

        public string Job { get; private set; }

        public int Sample { get; private set; }

        public long Seed { get; private set; }

        public string Target { get; private set; }

        public int Fps { get; private set; }

        public string[] Joints { get; private set; }

        public float[] Root { get; private set; }

        public float[] Rotations { get; private set; }

        /// <summary>False for a coarse preview taken mid-sampling.</summary>
        public bool IsFinal { get; private set; }

        /// <summary>The sampler step of a preview; -1 for final motion.</summary>
        public int PreviewStep { get; private set; }

        public int JointCount
        {
            get { return Joints.Length; }
        }

        public int FrameCount
        {
            get { return Root.Length / 3; }
        }

        public double Duration
        {
            get { return (double)FrameCount / Fps; }
        }

        /// <summary>Index of a joint by name, -1 if absent.</summary>
        public int IndexOf(string joint)
        {
            return Array.IndexOf(Joints, joint);
        }

        /// <summary>Offset of frame f, joint j's quaternion in <see cref="Rotations"/>.</summary>
        public int RotationOffset(int frame, int joint)
        {
            return (frame * Joints.Length + joint) * 4;
        }
    }
}
