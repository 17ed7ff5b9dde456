// MotionBridge for Unity: property names of Humanoid animation curves.
using System;

namespace MotionBridge.Motion
{
    /// <summary>
    /// The property names a Humanoid AnimationClip uses. Body muscles use HumanTrait.MuscleName as is
    /// ("Spine Front-Back"), but finger muscles do not: "Left Thumb 1 Stretched" is stored as
    /// "LeftHand.Thumb.1 Stretched" and "Right Index Spread" as "RightHand.Index.Spread". A clip written
    /// with the HumanTrait names silently drops its finger curves.
    /// </summary>
    public static class HumanoidCurveNames
    {
        /// <summary>Root (body) position curves, the HumanPose.bodyPosition (normalised by human scale).</summary>
        public static readonly string[] RootT = { "RootT.x", "RootT.y", "RootT.z" };

        /// <summary>Root (body) rotation curves, HumanPose.bodyRotation (x, y, z, w).</summary>
        public static readonly string[] RootQ = { "RootQ.x", "RootQ.y", "RootQ.z", "RootQ.w" };

        private static readonly string[] Fingers = { "Thumb", "Index", "Middle", "Ring", "Little" };

        /// <summary>The clip property name of a muscle given its HumanTrait.MuscleName.</summary>
        public static string ForMuscle(string muscleName)
        {
            if (string.IsNullOrEmpty(muscleName))
            {
                throw new ArgumentException("muscle name is empty");
            }
            string side;
            if (muscleName.StartsWith("Left ", StringComparison.Ordinal))
            {
                side = "LeftHand";
            }
            else if (muscleName.StartsWith("Right ", StringComparison.Ordinal))
            {
                side = "RightHand";
            }
            else
            {
                return muscleName;
            }
            string rest = muscleName.Substring(side == "LeftHand" ? 5 : 6);
            foreach (var finger in Fingers)
            {
                if (!rest.StartsWith(finger + " ", StringComparison.Ordinal))
                {
                    continue;
                }
                // "1 Stretched" / "2 Stretched" / "3 Stretched" / "Spread"
                string motion = rest.Substring(finger.Length + 1);
                if (motion == "Spread")
                {
                    return side + "." + finger + ".Spread";
                }
                return side + "." + finger + "." + motion;
            }
            return muscleName;
        }
    }
}
