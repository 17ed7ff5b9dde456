// MotionBridge for Unity: turns a received take into a Humanoid AnimationClip asset.
using System;
using System.IO;
using MotionBridge.Motion;
using UnityEditor;
using UnityEngine;

namespace MotionBridge.Editor
{
    /// <summary>
    /// Bakes a take frame by frame through the source Avatar into Humanoid curves: RootT / RootQ (the body
    /// position, normalised by human scale, and rotation) and one curve per muscle under the clip property names
    /// (fingers included, see <see cref="HumanoidCurveNames"/>). The clip plays on any Humanoid. Loop Pose and
    /// Bake Into Pose stay off: they would alter the generated root motion.
    /// </summary>
    public static class ClipBaker
    {
        public static AnimationClip Bake(MotionTake take, SourceAvatar source, bool loopTime)
        {
            if (take == null || source == null)
            {
                throw new ArgumentNullException(take == null ? "take" : "source");
            }
            int frames = take.FrameCount;
            int muscleCount = HumanTrait.MuscleCount;
            var rootT = NewKeys(3, frames);
            var rootQ = NewKeys(4, frames);
            var muscles = NewKeys(muscleCount, frames);
            var pose = new HumanPose();
            Quaternion previous = Quaternion.identity;
            for (int f = 0; f < frames; f++)
            {
                source.Pose(take, f);
                source.GetHumanPose(ref pose);
                float time = (float)f / take.Fps;
                var q = pose.bodyRotation;
                // q and -q are the same rotation; curves interpolate component-wise, so keep neighbours on one side.
                if (f > 0 && previous.x * q.x + previous.y * q.y + previous.z * q.z + previous.w * q.w < 0)
                {
                    q = new Quaternion(-q.x, -q.y, -q.z, -q.w);
                }
                previous = q;
                rootT[0][f] = new Keyframe(time, pose.bodyPosition.x);
                rootT[1][f] = new Keyframe(time, pose.bodyPosition.y);
                rootT[2][f] = new Keyframe(time, pose.bodyPosition.z);
                rootQ[0][f] = new Keyframe(time, q.x);
                rootQ[1][f] = new Keyframe(time, q.y);
                rootQ[2][f] = new Keyframe(time, q.z);
                rootQ[3][f] = new Keyframe(time, q.w);
                for (int m = 0; m < muscleCount; m++)
                {
                    muscles[m][f] = new Keyframe(time, pose.muscles[m]);
                }
            }
            var clip = new AnimationClip { frameRate = take.Fps };
            for (int c = 0; c < 3; c++)
            {
                SetCurve(clip, HumanoidCurveNames.RootT[c], rootT[c]);
            }
            for (int c = 0; c < 4; c++)
            {
                SetCurve(clip, HumanoidCurveNames.RootQ[c], rootQ[c]);
            }
            var muscleNames = HumanTrait.MuscleName;
            for (int m = 0; m < muscleCount; m++)
            {
                SetCurve(clip, HumanoidCurveNames.ForMuscle(muscleNames[m]), muscles[m]);
            }
            var settings = AnimationUtility.GetAnimationClipSettings(clip);
            settings.loopTime = loopTime;
            settings.loopBlend = false;
            settings.loopBlendOrientation = false;
            settings.loopBlendPositionY = false;
            settings.loopBlendPositionXZ = false;
            AnimationUtility.SetAnimationClipSettings(clip, settings);
            return clip;
        }

        private static Keyframe[][] NewKeys(int curves, int frames)
        {
            var keys = new Keyframe[curves][];
            for (int c = 0; c < curves; c++)
            {
                keys[c] = new Keyframe[frames];
            }
            return keys;
        }

        private static void SetCurve(AnimationClip clip, string property, Keyframe[] keys)
        {
            var binding = EditorCurveBinding.FloatCurve("", typeof(Animator), property);
            AnimationUtility.SetEditorCurve(clip, binding, new AnimationCurve(keys));
        }

        /// <summary>
        /// Saves a clip under an Assets/ folder (created if missing) as name.anim, or name 1.anim, ... if taken
        /// (see <see cref="ClipNames"/> for names); returns its path.
        /// </summary>
        public static string Save(AnimationClip clip, string folder, string name)
        {
            folder = (folder ?? "").Replace('\\', '/').TrimEnd('/');
            if (folder != "Assets" && !folder.StartsWith("Assets/", StringComparison.Ordinal))
            {
                throw new ArgumentException("bake folder must be inside the project's Assets folder, got '" + folder + "'");
            }
            EnsureFolder(folder);
            string path = AssetDatabase.GenerateUniqueAssetPath(folder + "/" + name + ".anim");
            clip.name = Path.GetFileNameWithoutExtension(path);
            AssetDatabase.CreateAsset(clip, path);
            AssetDatabase.SaveAssets();
            return path;
        }

        private static void EnsureFolder(string folder)
        {
            if (AssetDatabase.IsValidFolder(folder))
            {
                return;
            }
            int slash = folder.LastIndexOf('/');
            string parent = folder.Substring(0, slash);
            EnsureFolder(parent);
            AssetDatabase.CreateFolder(parent, folder.Substring(slash + 1));
        }
    }
}
