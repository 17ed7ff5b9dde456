// MotionBridge editor tests: baked curves keep the motion's velocity through every key.
using System;
using MotionBridge.Editor;
using MotionBridge.Motion;
using NUnit.Framework;
using UnityEditor;
using UnityEngine;

namespace MotionBridge.EditorTests
{
    [TestFixture]
    public class ClipBakerTests
    {
        private static AnimationCurve Curve(AnimationClip clip, string property)
        {
            return AnimationUtility.GetEditorCurve(clip, EditorCurveBinding.FloatCurve("", typeof(Animator), property));
        }

        [Test]
        public void Keys_carry_the_slope_of_the_motion_not_a_stop_at_every_frame()
        {
            var take = EditorFixtures.WalkingTake(12);
            using (var source = SourceAvatar.Build(EditorFixtures.Skeleton()))
            {
                var clip = ClipBaker.Bake(take, source, false);
                var keys = Curve(clip, "RootT.x").keys;
                Assert.AreEqual(12, keys.Length);
                for (int f = 0; f < keys.Length; f++)
                {
                    Assert.AreEqual(f / 30f, keys[f].time, 1e-6);
                    Assert.AreEqual(0.5f + 0.1f * f, keys[f].value, 1e-5);
                    Assert.AreEqual(3f, keys[f].inTangent, 1e-3, "0.1 m per frame at 30 fps, key " + f);
                    Assert.AreEqual(3f, keys[f].outTangent, 1e-3, "key " + f);
                }
                foreach (var key in Curve(clip, "RootT.y").keys)
                {
                    Assert.AreEqual(0f, key.inTangent, 1e-6, "a still channel stays flat");
                }
            }
        }

        [Test]
        public void Every_root_and_muscle_curve_is_written()
        {
            using (var source = SourceAvatar.Build(EditorFixtures.Skeleton()))
            {
                var clip = ClipBaker.Bake(EditorFixtures.WalkingTake(3), source, true);
                var properties = Array.ConvertAll(AnimationUtility.GetCurveBindings(clip), b => b.propertyName);
                Assert.AreEqual(3 + 4 + HumanTrait.MuscleCount, properties.Length);
                CollectionAssert.IsSubsetOf(HumanoidCurveNames.RootT, properties);
                CollectionAssert.IsSubsetOf(HumanoidCurveNames.RootQ, properties);
                Assert.AreEqual(1f, Curve(clip, "RootQ.w").keys[2].value, 1e-6);
                Assert.AreEqual(30f, clip.frameRate);
            }
        }
    }
}
