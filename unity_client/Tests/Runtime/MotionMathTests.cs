// MotionBridge tests: backoff, playback, curve names and slopes, and the source skeleton in Unity's convention.
using System;
using MotionBridge.Client;
using MotionBridge.MessagePack;
using MotionBridge.Motion;
using MotionBridge.Protocol;
using NUnit.Framework;

namespace MotionBridge.Tests
{
    [TestFixture]
    public class ReconnectPolicyTests
    {
        [Test]
        public void Delays_double_up_to_the_ceiling_without_jitter()
        {
            var policy = new ReconnectPolicy { Initial = TimeSpan.FromSeconds(0.5), Max = TimeSpan.FromSeconds(4), Jitter = 0 };
            var expected = new[] { 0.5, 1, 2, 4, 4, 4 };
            for (int attempt = 0; attempt < expected.Length; attempt++)
            {
                Assert.AreEqual(expected[attempt], policy.DelayFor(attempt, new Random(1)).TotalSeconds, 1e-9);
            }
            Assert.AreEqual(4, policy.DelayFor(100000, null).TotalSeconds, 1e-9);
        }

        [Test]
        public void Jitter_only_shortens_and_stays_within_its_fraction()
        {
            var policy = new ReconnectPolicy { Initial = TimeSpan.FromSeconds(1), Max = TimeSpan.FromSeconds(1), Jitter = 0.25 };
            var random = new Random(42);
            double low = double.MaxValue;
            double high = 0;
            for (int i = 0; i < 500; i++)
            {
                double delay = policy.DelayFor(3, random).TotalSeconds;
                low = Math.Min(low, delay);
                high = Math.Max(high, delay);
            }
            Assert.GreaterOrEqual(low, 0.75);
            Assert.LessOrEqual(high, 1.0);
            Assert.Less(low, 0.8, "jitter should spread the delays");
        }

        [Test]
        public void Negative_attempt_is_a_caller_error()
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => new ReconnectPolicy().DelayFor(-1, null));
        }
    }

    [TestFixture]
    public class MotionPlayheadTests
    {
        [Test]
        public void Looping_wraps_and_non_looping_stops_on_the_last_frame()
        {
            var playhead = new MotionPlayhead { Loop = true };
            playhead.Advance(1.25, 1.0);
            Assert.AreEqual(0.25, playhead.Time, 1e-9);
            Assert.AreEqual(7, playhead.Frame(30, 30));
            playhead.Loop = false;
            playhead.Advance(2.0, 1.0);
            Assert.IsFalse(playhead.Playing);
            Assert.AreEqual(29, playhead.Frame(30, 30));
        }

        [Test]
        public void Paused_does_not_move_and_scrub_clamps()
        {
            var playhead = new MotionPlayhead { Playing = false };
            playhead.Advance(0.5, 1.0);
            Assert.AreEqual(0.0, playhead.Time);
            playhead.Scrub(5.0, 2.0);
            Assert.AreEqual(2.0, playhead.Time);
            playhead.Scrub(-1, 2.0);
            Assert.AreEqual(0.0, playhead.Time);
            Assert.AreEqual(0, playhead.Frame(30, 0));
        }

        [Test]
        public void Frame_at_exact_boundaries_is_not_lost_to_rounding()
        {
            var playhead = new MotionPlayhead { Playing = false };
            playhead.Scrub(0.1, 10);
            Assert.AreEqual(3, playhead.Frame(30, 300));
        }
    }

    [TestFixture]
    public class HumanoidCurveNamesTests
    {
        [TestCase("Left Thumb 1 Stretched", "LeftHand.Thumb.1 Stretched")]
        [TestCase("Left Thumb Spread", "LeftHand.Thumb.Spread")]
        [TestCase("Right Index 3 Stretched", "RightHand.Index.3 Stretched")]
        [TestCase("Right Little Spread", "RightHand.Little.Spread")]
        [TestCase("Left Middle 2 Stretched", "LeftHand.Middle.2 Stretched")]
        [TestCase("Right Ring 1 Stretched", "RightHand.Ring.1 Stretched")]
        [TestCase("Spine Front-Back", "Spine Front-Back")]
        [TestCase("Left Upper Leg In-Out", "Left Upper Leg In-Out")]
        [TestCase("Right Hand Down-Up", "Right Hand Down-Up")]
        [TestCase("Left Arm Twist In-Out", "Left Arm Twist In-Out")]
        public void Muscle_property_names(string muscle, string property)
        {
            Assert.AreEqual(property, HumanoidCurveNames.ForMuscle(muscle));
        }

        /// <summary>HumanTrait.MuscleName of Unity 2021.3, in order (95 muscles).</summary>
        private static readonly string[] UnityMuscles =
        {
            "Spine Front-Back", "Spine Left-Right", "Spine Twist Left-Right", "Chest Front-Back", "Chest Left-Right",
            "Chest Twist Left-Right", "UpperChest Front-Back", "UpperChest Left-Right", "UpperChest Twist Left-Right",
            "Neck Nod Down-Up", "Neck Tilt Left-Right", "Neck Turn Left-Right", "Head Nod Down-Up", "Head Tilt Left-Right",
            "Head Turn Left-Right", "Left Eye Down-Up", "Left Eye In-Out", "Right Eye Down-Up", "Right Eye In-Out",
            "Jaw Close", "Jaw Left-Right", "Left Upper Leg Front-Back", "Left Upper Leg In-Out",
            "Left Upper Leg Twist In-Out", "Left Lower Leg Stretch", "Left Lower Leg Twist In-Out", "Left Foot Up-Down",
            "Left Foot Twist In-Out", "Left Toes Up-Down", "Right Upper Leg Front-Back", "Right Upper Leg In-Out",
            "Right Upper Leg Twist In-Out", "Right Lower Leg Stretch", "Right Lower Leg Twist In-Out",
            "Right Foot Up-Down", "Right Foot Twist In-Out", "Right Toes Up-Down", "Left Shoulder Down-Up",
            "Left Shoulder Front-Back", "Left Arm Down-Up", "Left Arm Front-Back", "Left Arm Twist In-Out",
            "Left Forearm Stretch", "Left Forearm Twist In-Out", "Left Hand Down-Up", "Left Hand In-Out",
            "Right Shoulder Down-Up", "Right Shoulder Front-Back", "Right Arm Down-Up", "Right Arm Front-Back",
            "Right Arm Twist In-Out", "Right Forearm Stretch", "Right Forearm Twist In-Out", "Right Hand Down-Up",
            "Right Hand In-Out", "Left Thumb 1 Stretched", "Left Thumb Spread", "Left Thumb 2 Stretched",
            "Left Thumb 3 Stretched", "Left Index 1 Stretched", "Left Index Spread", "Left Index 2 Stretched",
            "Left Index 3 Stretched", "Left Middle 1 Stretched", "Left Middle Spread", "Left Middle 2 Stretched",
            "Left Middle 3 Stretched", "Left Ring 1 Stretched", "Left Ring Spread", "Left Ring 2 Stretched",
            "Left Ring 3 Stretched", "Left Little 1 Stretched", "Left Little Spread", "Left Little 2 Stretched",
            "Left Little 3 Stretched", "Right Thumb 1 Stretched", "Right Thumb Spread", "Right Thumb 2 Stretched",
            "Right Thumb 3 Stretched", "Right Index 1 Stretched", "Right Index Spread", "Right Index 2 Stretched",
            "Right Index 3 Stretched", "Right Middle 1 Stretched", "Right Middle Spread", "Right Middle 2 Stretched",
            "Right Middle 3 Stretched", "Right Ring 1 Stretched", "Right Ring Spread", "Right Ring 2 Stretched",
            "Right Ring 3 Stretched", "Right Little 1 Stretched", "Right Little Spread", "Right Little 2 Stretched",
            "Right Little 3 Stretched",
        };

        [Test]
        public void Exactly_the_forty_finger_muscles_are_renamed_and_names_stay_unique()
        {
            Assert.AreEqual(95, UnityMuscles.Length);
            var properties = new System.Collections.Generic.HashSet<string>();
            int renamed = 0;
            foreach (var muscle in UnityMuscles)
            {
                string property = HumanoidCurveNames.ForMuscle(muscle);
                Assert.IsTrue(properties.Add(property), "duplicate property " + property);
                if (property != muscle)
                {
                    renamed++;
                    StringAssert.IsMatch(@"^(Left|Right)Hand\.(Thumb|Index|Middle|Ring|Little)\.([123] Stretched|Spread)$", property);
                }
            }
            Assert.AreEqual(40, renamed);
        }

        [Test]
        public void Root_curves_are_named_for_humanoid_clips()
        {
            CollectionAssert.AreEqual(new[] { "RootT.x", "RootT.y", "RootT.z" }, HumanoidCurveNames.RootT);
            CollectionAssert.AreEqual(new[] { "RootQ.x", "RootQ.y", "RootQ.z", "RootQ.w" }, HumanoidCurveNames.RootQ);
        }
    }

    [TestFixture]
    public class CurveSlopesTests
    {
        [Test]
        public void A_steady_motion_keeps_its_speed_through_every_key()
        {
            var slopes = CurveSlopes.Of(new[] { 0f, 0.1f, 0.2f, 0.3f, 0.4f }, 30);
            foreach (var slope in slopes)
            {
                Assert.AreEqual(3.0, slope, 1e-4, "0.1 per frame at 30 fps is 3 per second");
            }
        }

        [Test]
        public void Inner_keys_take_the_central_difference_and_the_ends_look_one_way()
        {
            // v = t² sampled at 10 fps: the central difference is exact for a parabola (2t).
            var values = new float[6];
            for (int f = 0; f < values.Length; f++)
            {
                float t = f / 10f;
                values[f] = t * t;
            }
            var slopes = CurveSlopes.Of(values, 10);
            for (int f = 1; f < values.Length - 1; f++)
            {
                Assert.AreEqual(2.0 * f / 10.0, slopes[f], 1e-4, "frame " + f);
            }
            Assert.AreEqual((values[1] - values[0]) * 10, slopes[0], 1e-5);
            Assert.AreEqual((values[5] - values[4]) * 10, slopes[5], 1e-5);
        }

        [Test]
        public void A_single_key_is_flat_and_bad_input_is_refused()
        {
            CollectionAssert.AreEqual(new[] { 0f }, CurveSlopes.Of(new[] { 5f }, 30));
            Assert.AreEqual(0, CurveSlopes.Of(new float[0], 30).Length);
            Assert.Throws<ArgumentNullException>(() => CurveSlopes.Of(null, 30));
            Assert.Throws<ArgumentOutOfRangeException>(() => CurveSlopes.Of(new[] { 1f, 2f }, 0));
        }
    }

    [TestFixture]
    public class UnitySourceSkeletonTests
    {
        [Test]
        public void Rest_offsets_are_mirrored_in_x_and_accumulate()
        {
            var hello = (HelloMessage)ProtocolCodec.Decode(MessagePackWriter.Serialize(TestMessages.Hello("none")));
            var skeleton = new UnitySourceSkeleton(hello.Skeleton, hello.TargetJoints["unity"]);
            Assert.AreEqual("Spine", skeleton.Joints[1]);
            Assert.AreEqual(-0.1f, skeleton.RestOffsets[3], 1e-7);
            var positions = skeleton.RestPositions();
            Assert.AreEqual(-0.1f, positions[6], 1e-6);
            Assert.AreEqual(0.95f + 0.10f + 0.5f, positions[7], 1e-6);
            Assert.AreEqual(0.025f, positions[8], 1e-6);
        }

        [Test]
        public void Bone_names_must_match_the_joint_count()
        {
            var hello = (HelloMessage)ProtocolCodec.Decode(MessagePackWriter.Serialize(TestMessages.Hello("none")));
            Assert.Throws<ArgumentException>(() => new UnitySourceSkeleton(hello.Skeleton, new[] { "Hips" }));
        }
    }
}

namespace MotionBridge.Tests
{
    [TestFixture]
    public class ClipNamesTests
    {
        [TestCase("a person waves, twice!", 3, "a_person_waves_twice_seed3")]
        [TestCase("  ../../etc/passwd  ", 0, "etc_passwd_seed0")]
        [TestCase("jump-kick", 12, "jump-kick_seed12")]
        [TestCase("人が歩く", 1, "人が歩く_seed1")]
        [TestCase("?!", 5, "MotionBridge_seed5")]
        [TestCase("", 5, "MotionBridge_seed5")]
        public void Names_keep_words_and_drop_path_characters(string prompt, long seed, string expected)
        {
            Assert.AreEqual(expected, ClipNames.FromPrompt(prompt, seed));
        }

        [Test]
        public void Long_prompts_are_cut()
        {
            string name = ClipNames.FromPrompt(new string('w', 200), 1);
            Assert.AreEqual(ClipNames.MaxPromptChars + "_seed1".Length, name.Length);
        }
    }
}
