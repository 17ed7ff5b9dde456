// MotionBridge for Unity: poses of the user's character or clips, read back into the daemon's skeleton for `start`.
using System;
using MotionBridge.Motion;
using MotionBridge.Protocol;
using UnityEngine;

namespace MotionBridge.Editor
{
    /// <summary>
    /// The preview's retarget run backwards: the character's muscle pose (HumanPoseHandler.GetHumanPose) is put on
    /// the hidden source rig, whose local rotations and hips position are exactly what the daemon sends for target
    /// `unity`. The character is always put back as it was.
    /// </summary>
    public static class PoseCapture
    {
        /// <summary>The pose the character stands in now, as a one-frame start.</summary>
        public static StartMotion FromCharacter(Animator animator, StoredSkeleton skeleton)
        {
            using (var source = Build(skeleton))
            using (var character = new HumanoidPreview(animator))
            {
                int joints = skeleton.joints.Length;
                var root = new float[3];
                var rotations = new float[joints * 4];
                var pose = new HumanPose();
                character.Read(ref pose);
                source.ReadFrame(ref pose, root, 0, rotations, 0);
                return StartMotion.FromFrames(root, rotations, 1);
            }
        }

        /// <summary>The last <paramref name="frames"/> frames of a clip (at the daemon's 30 fps), sampled on the character.</summary>
        public static StartMotion FromClip(AnimationClip clip, Animator animator, StoredSkeleton skeleton, int frames)
        {
            const int fps = 30;
            int available = (int)Math.Floor(clip.length * fps + 1e-6) + 1;
            int count = Math.Max(1, Math.Min(frames, available));
            using (var source = Build(skeleton))
            using (var character = new HumanoidPreview(animator))
            {
                int joints = skeleton.joints.Length;
                var root = new float[count * 3];
                var rotations = new float[count * joints * 4];
                var pose = new HumanPose();
                for (int k = 0; k < count; k++)
                {
                    float time = Math.Max(0f, clip.length - (float)(count - 1 - k) / fps);
                    clip.SampleAnimation(animator.gameObject, time);
                    character.Read(ref pose);
                    source.ReadFrame(ref pose, root, 3 * k, rotations, 4 * joints * k);
                }
                return StartMotion.FromFrames(root, rotations, count);
            }
        }

        /// <summary>The last <paramref name="frames"/> frames of a take this window holds, sent as they are.</summary>
        public static StartMotion LastFrames(MotionTake take, int frames)
        {
            int count = Math.Max(1, Math.Min(frames, take.FrameCount));
            int first = take.FrameCount - count;
            var root = new float[count * 3];
            var rotations = new float[count * take.JointCount * 4];
            Array.Copy(take.Root, 3 * first, root, 0, root.Length);
            Array.Copy(take.Rotations, take.RotationOffset(first, 0), rotations, 0, rotations.Length);
            return StartMotion.FromFrames(root, rotations, count);
        }

        private static SourceAvatar Build(StoredSkeleton skeleton)
        {
            try
            {
                return SourceAvatar.Build(skeleton);
            }
            catch (ArgumentException error)
            {
                throw new InvalidOperationException(error.Message);
            }
        }
    }
}
