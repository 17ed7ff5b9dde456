// MotionBridge for Unity: the daemon's source skeleton restated in Unity's convention.
using System;
using MotionBridge.Protocol;

namespace MotionBridge.Motion
{
    /// <summary>
    /// The hello skeleton with Unity bone names and rest offsets converted to Unity's convention, ready to
    /// build the source Avatar from. The daemon sends rest offsets in the source convention (right-handed,
    /// Y up, faces +Z, metres); the `unity` target is the same frame mirrored in x (docs/protocol.md §8:
    /// p′ = (−x, y, z)), which is the only conversion done on this side. Rest rotations are identity in both.
    /// </summary>
    public sealed class UnitySourceSkeleton
    {
        public UnitySourceSkeleton(SkeletonInfo skeleton, string[] unityJointNames)
        {
            if (skeleton == null)
            {
                throw new ArgumentNullException("skeleton");
            }
            if (unityJointNames == null || unityJointNames.Length != skeleton.JointCount)
            {
                throw new ArgumentException(
                    "need one Unity bone name per skeleton joint (" + skeleton.JointCount + ")", "unityJointNames");
            }
            Joints = (string[])unityJointNames.Clone();
            Parents = (int[])skeleton.Parents.Clone();
            RestOffsets = new float[skeleton.Rest.Length];
            for (int j = 0; j < skeleton.JointCount; j++)
            {
                RestOffsets[3 * j] = (float)-skeleton.Rest[3 * j];
                RestOffsets[3 * j + 1] = (float)skeleton.Rest[3 * j + 1];
                RestOffsets[3 * j + 2] = (float)skeleton.Rest[3 * j + 2];
            }
        }

        /// <summary>HumanBodyBones names, in the daemon's joint order.</summary>
        public string[] Joints { get; private set; }

        public int[] Parents { get; private set; }

        /// <summary>J × 3 offsets from the parent (row 0: the hips' rest position), Unity convention, metres.</summary>
        public float[] RestOffsets { get; private set; }

        public int JointCount
        {
            get { return Joints.Length; }
        }

        /// <summary>World rest positions (J × 3), accumulated down the hierarchy.</summary>
        public float[] RestPositions()
        {
            var positions = new float[RestOffsets.Length];
            for (int j = 0; j < Joints.Length; j++)
            {
                int p = Parents[j];
                for (int c = 0; c < 3; c++)
                {
                    positions[3 * j + c] = RestOffsets[3 * j + c] + (p < 0 ? 0f : positions[3 * p + c]);
                }
            }
            return positions;
        }
    }
}
