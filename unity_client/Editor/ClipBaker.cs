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
    /// (fingers included, see <see cref="HumanoidCurveNames"/>). Every key carries the curve's slope there
    /// (<see cref="CurveSlopes"/>), so playback moves smoothly through the keys instead of pausing at each. The
    /// clip plays on any Humanoid. Loop Pose and Bake Into Pose stay off: they would alter the generated root motion.
    /// </summary>
    public static class ClipBaker
    {
        private const int RootCurves = 7;

        public static AnimationClip Bake(MotionTake take, SourceAvatar source, bool loopTime)
        {
            if (take == null || source == null)
            {
                throw new ArgumentNullException(take == null ? "take" : "source");
            }
            var values = Sample(take, source);
            var bindings = Bindings();
            var curves = new AnimationCurve[bindings.Length];
            for (int c = 0; c < curves.Length; c++)
            {
                curves[c] = Curve(values[c], take.Fps);
            }
            var clip = new AnimationClip { frameRate = take.Fps };
            // One call: the clip is rebuilt once, not once per curve (102 of them).
            AnimationUtility.SetEditorCurves(clip, bindings, curves);
            var settings = AnimationUtility.GetAnimationClipSettings(clip);
            settings.loopTime = loopTime;
            settings.loopBlend = false;
            settings.loopBlendOrientation = false;
            settings.loopBlendPositionY = false;
            settings.loopBlendPositionXZ = false;
            AnimationUtility.SetAnimationClipSettings(clip, settings);
            return clip;
        }

        /// <summary>Per curve (RootT x y z, RootQ x y z w, then the muscles), its value at every frame.</summary>
        private static float[][] Sample(MotionTake take, SourceAvatar source)
        {
            int frames = take.FrameCount;
            var values = new float[RootCurves + HumanTrait.MuscleCount][];
            for (int c = 0; c < values.Length; c++)
            {
                values[c] = new float[frames];
            }
            var pose = new HumanPose();
            Quaternion previous = Quaternion.identity;
            for (int f = 0; f < frames; f++)
            {
                source.Pose(take, f);
                source.GetHumanPose(ref pose);
                var q = pose.bodyRotation;
                // q and -q are the same rotation; curves interpolate component-wise, so keep neighbours on one side.
                if (f > 0 && previous.x * q.x + previous.y * q.y + previous.z * q.z + previous.w * q.w < 0)
                {
                    q = new Quaternion(-q.x, -q.y, -q.z, -q.w);
                }
                previous = q;
                values[0][f] = pose.bodyPosition.x;
                values[1][f] = pose.bodyPosition.y;
                values[2][f] = pose.bodyPosition.z;
                values[3][f] = q.x;
                values[4][f] = q.y;
                values[5][f] = q.z;
                values[6][f] = q.w;
                for (int m = 0; m < HumanTrait.MuscleCount; m++)
                {
                    values[RootCurves + m][f] = pose.muscles[m];
                }
            }
            return values;
        }

        private static EditorCurveBinding[] Bindings()
        {
            var muscleNames = HumanTrait.MuscleName;
            var bindings = new EditorCurveBinding[RootCurves + muscleNames.Length];
            for (int c = 0; c < 3; c++)
            {
                bindings[c] = Binding(HumanoidCurveNames.RootT[c]);
            }
            for (int c = 0; c < 4; c++)
            {
                bindings[3 + c] = Binding(HumanoidCurveNames.RootQ[c]);
            }
            for (int m = 0; m < muscleNames.Length; m++)
            {
                bindings[RootCurves + m] = Binding(HumanoidCurveNames.ForMuscle(muscleNames[m]));
            }
            return bindings;
        }

        private static EditorCurveBinding Binding(string property)
        {
            return EditorCurveBinding.FloatCurve("", typeof(Animator), property);
        }

        private static AnimationCurve Curve(float[] values, int fps)
        {
            var slopes = CurveSlopes.Of(values, fps);
            var keys = new Keyframe[values.Length];
            for (int f = 0; f < keys.Length; f++)
            {
                keys[f] = new Keyframe((float)f / fps, values[f], slopes[f], slopes[f]);
            }
            return new AnimationCurve(keys);
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
