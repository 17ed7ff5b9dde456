// MotionBridge for Unity: shows muscle poses on the user's Humanoid in edit mode, and puts it back afterwards.
using System;
using UnityEngine;

namespace MotionBridge.Editor
{
    /// <summary>
    /// Drives a scene Animator's Humanoid with HumanPoseHandler.SetHumanPose outside play mode. The first
    /// pose snapshots every transform under the Animator, and <see cref="Restore"/> writes them back, so
    /// previewing never leaves the character in a generated pose.
    /// </summary>
    public sealed class HumanoidPreview : IDisposable
    {
        private readonly Animator _animator;
        private readonly HumanPoseHandler _handler;
        private readonly Transform[] _transforms;
        private readonly Vector3[] _positions;
        private readonly Quaternion[] _rotations;
        private readonly Vector3[] _scales;

        public HumanoidPreview(Animator animator)
        {
            var problem = Problem(animator);
            if (problem != null)
            {
                throw new ArgumentException(problem);
            }
            _animator = animator;
            _handler = new HumanPoseHandler(animator.avatar, animator.transform);
            _transforms = animator.GetComponentsInChildren<Transform>(true);
            _positions = new Vector3[_transforms.Length];
            _rotations = new Quaternion[_transforms.Length];
            _scales = new Vector3[_transforms.Length];
            for (int i = 0; i < _transforms.Length; i++)
            {
                _positions[i] = _transforms[i].localPosition;
                _rotations[i] = _transforms[i].localRotation;
                _scales[i] = _transforms[i].localScale;
            }
        }

        public Animator Animator
        {
            get { return _animator; }
        }

        /// <summary>Why an Animator cannot be previewed on, or null if it can.</summary>
        public static string Problem(Animator animator)
        {
            if (animator == null)
            {
                return "select a character with an Animator";
            }
            if (animator.avatar == null)
            {
                return animator.name + " has no Avatar: set Rig ▸ Animation Type to Humanoid on its model";
            }
            if (!animator.avatar.isValid || !animator.avatar.isHuman)
            {
                return animator.name + "'s Avatar is not a valid Humanoid: set Rig ▸ Animation Type to Humanoid and fix the mapping";
            }
            return null;
        }

        public void Apply(ref HumanPose pose)
        {
            _handler.SetHumanPose(ref pose);
        }

        /// <summary>The character's muscle pose as it stands now.</summary>
        public void Read(ref HumanPose pose)
        {
            _handler.GetHumanPose(ref pose);
        }

        /// <summary>Puts every transform back where it was before the preview started.</summary>
        public void Restore()
        {
            for (int i = 0; i < _transforms.Length; i++)
            {
                if (_transforms[i] == null)
                {
                    continue;
                }
                _transforms[i].localPosition = _positions[i];
                _transforms[i].localRotation = _rotations[i];
                _transforms[i].localScale = _scales[i];
            }
        }

        public void Dispose()
        {
            Restore();
            _handler.Dispose();
        }
    }
}
