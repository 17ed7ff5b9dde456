// MotionBridge for Unity: a hidden rig of the daemon's skeleton with a Mecanim Avatar, to read muscle poses from.
using System;
using System.Collections.Generic;
using MotionBridge.Motion;
using UnityEngine;
using Object = UnityEngine.Object;

namespace MotionBridge.Editor
{
    /// <summary>
    /// The source side of the Mecanim retarget: a hidden GameObject hierarchy shaped like the daemon's skeleton
    /// (T-pose, identity rest rotations, Unity convention), a Humanoid Avatar built from it with
    /// AvatarBuilder.BuildHumanAvatar, and a HumanPoseHandler. Posing it with the received local rotations
    /// and reading GetHumanPose gives muscle values any Humanoid can take, whatever its proportions and rest pose.
    /// </summary>
    public sealed class SourceAvatar : IDisposable
    {
        private const string RootName = "MotionBridge Source Skeleton";

        private readonly GameObject _root;
        private readonly Transform[] _bones;
        private readonly Dictionary<string, int> _boneIndex = new Dictionary<string, int>();
        private readonly Avatar _avatar;
        private readonly HumanPoseHandler _handler;
        private string[] _mappedJoints;
        private int[] _jointToBone;

        private SourceAvatar(StoredSkeleton skeleton)
        {
            Skeleton = skeleton;
            _root = CreateHidden(RootName);
            int count = skeleton.joints.Length;
            _bones = new Transform[count];
            var description = new HumanDescription
            {
                upperArmTwist = 0.5f,
                lowerArmTwist = 0.5f,
                upperLegTwist = 0.5f,
                lowerLegTwist = 0.5f,
                armStretch = 0.05f,
                legStretch = 0.05f,
                feetSpacing = 0f,
                hasTranslationDoF = false,
            };
            var human = new List<HumanBone>();
            var bones = new List<SkeletonBone>
            {
                new SkeletonBone { name = RootName, position = Vector3.zero, rotation = Quaternion.identity, scale = Vector3.one },
            };
            for (int j = 0; j < count; j++)
            {
                string name = skeleton.joints[j];
                var bone = CreateHidden(name).transform;
                int parent = skeleton.parents[j];
                bone.SetParent(parent < 0 ? _root.transform : _bones[parent], false);
                bone.localPosition = new Vector3(skeleton.restOffsets[3 * j], skeleton.restOffsets[3 * j + 1], skeleton.restOffsets[3 * j + 2]);
                bone.localRotation = Quaternion.identity;
                bone.localScale = Vector3.one;
                _bones[j] = bone;
                _boneIndex[name] = j;
                bones.Add(new SkeletonBone { name = name, position = bone.localPosition, rotation = Quaternion.identity, scale = Vector3.one });
                string humanName = HumanBoneName(name);
                if (humanName != null)
                {
                    var humanBone = new HumanBone { boneName = name, humanName = humanName };
                    humanBone.limit.useDefaultValues = true;
                    human.Add(humanBone);
                }
            }
            description.human = human.ToArray();
            description.skeleton = bones.ToArray();
            _avatar = AvatarBuilder.BuildHumanAvatar(_root, description);
            _avatar.name = "MotionBridge Source Avatar";
            _avatar.hideFlags = HideFlags.HideAndDontSave;
            if (!_avatar.isValid || !_avatar.isHuman)
            {
                Dispose();
                throw new InvalidOperationException(
                    "could not build a Humanoid Avatar from the daemon's skeleton (" + string.Join(", ", skeleton.joints)
                    + "): the daemon must send HumanBodyBones names for target 'unity'");
            }
            _handler = new HumanPoseHandler(_avatar, _root.transform);
        }

        public StoredSkeleton Skeleton { get; private set; }

        /// <summary>A GameObject the user never sees, saves or selects.</summary>
        private static GameObject CreateHidden(string name)
        {
            return UnityEditor.EditorUtility.CreateGameObjectWithHideFlags(name, HideFlags.HideAndDontSave);
        }

        public static SourceAvatar Build(StoredSkeleton skeleton)
        {
            if (skeleton == null || !skeleton.IsValid)
            {
                throw new ArgumentException("no skeleton yet: connect to the daemon once so it can send its skeleton");
            }
            return new SourceAvatar(skeleton);
        }

        /// <summary>HumanTrait's name for a HumanBodyBones name, or null for a bone Mecanim does not know.</summary>
        private static string HumanBoneName(string bodyBone)
        {
            try
            {
                int index = (int)(HumanBodyBones)Enum.Parse(typeof(HumanBodyBones), bodyBone);
                return index >= 0 && index < HumanTrait.BoneName.Length ? HumanTrait.BoneName[index] : null;
            }
            catch (ArgumentException)
            {
                return null;
            }
        }

        /// <summary>Puts the rig in frame <paramref name="frame"/> of a take: root position plus every local rotation.</summary>
        public void Pose(MotionTake take, int frame)
        {
            Pose(take.Joints, take.Root, 3 * frame, take.Rotations, take.RotationOffset(frame, 0));
        }

        /// <summary>
        /// Puts the rig in one frame given as raw arrays: the root at <paramref name="root"/>[rootOffset …] and the joints'
        /// local rotations (x, y, z, w, in <paramref name="joints"/>' order) at <paramref name="rotations"/>[rotationOffset …].
        /// </summary>
        public void Pose(string[] joints, float[] root, int rootOffset, float[] rotations, int rotationOffset)
        {
            MapJoints(joints);
            for (int j = 0; j < joints.Length; j++)
            {
                int bone = _jointToBone[j];
                if (bone < 0)
                {
                    continue;
                }
                int o = rotationOffset + 4 * j;
                _bones[bone].localRotation = Normalized(rotations[o], rotations[o + 1], rotations[o + 2], rotations[o + 3]);
            }
            int rootBone = _jointToBone[0];
            if (rootBone >= 0)
            {
                // The root position is the pelvis in the world; the rig's container sits at the origin.
                _bones[rootBone].localPosition = new Vector3(root[rootOffset], root[rootOffset + 1], root[rootOffset + 2]);
            }
        }

        /// <summary>
        /// The inverse of posing: puts a muscle pose (e.g. read from the user's character) on the rig and writes the
        /// rig's frame, in the skeleton's joint order and the `unity` target convention, into <paramref name="root"/>
        /// (3 floats at rootOffset) and <paramref name="rotations"/> (joints × 4 at rotationOffset).
        /// </summary>
        public void ReadFrame(ref HumanPose pose, float[] root, int rootOffset, float[] rotations, int rotationOffset)
        {
            _handler.SetHumanPose(ref pose);
            for (int j = 0; j < _bones.Length; j++)
            {
                var q = _bones[j].localRotation;
                int o = rotationOffset + 4 * j;
                rotations[o] = q.x;
                rotations[o + 1] = q.y;
                rotations[o + 2] = q.z;
                rotations[o + 3] = q.w;
            }
            var hips = _bones[0].localPosition;
            root[rootOffset] = hips.x;
            root[rootOffset + 1] = hips.y;
            root[rootOffset + 2] = hips.z;
        }

        public void GetHumanPose(ref HumanPose pose)
        {
            _handler.GetHumanPose(ref pose);
        }

        private void MapJoints(string[] joints)
        {
            if (ReferenceEquals(joints, _mappedJoints))
            {
                return;
            }
            _jointToBone = new int[joints.Length];
            for (int j = 0; j < joints.Length; j++)
            {
                int bone;
                _jointToBone[j] = _boneIndex.TryGetValue(joints[j], out bone) ? bone : -1;
            }
            _mappedJoints = joints;
        }

        private static Quaternion Normalized(float x, float y, float z, float w)
        {
            double length = Math.Sqrt((double)x * x + (double)y * y + (double)z * z + (double)w * w);
            if (length < 1e-8)
            {
                return Quaternion.identity;
            }
            float inverse = (float)(1.0 / length);
            return new Quaternion(x * inverse, y * inverse, z * inverse, w * inverse);
        }

        public void Dispose()
        {
            if (_handler != null)
            {
                _handler.Dispose();
            }
            if (_avatar != null)
            {
                Object.DestroyImmediate(_avatar);
            }
            if (_root != null)
            {
                Object.DestroyImmediate(_root);
            }
        }
    }
}
