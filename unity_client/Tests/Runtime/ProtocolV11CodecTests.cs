// MotionBridge tests: the protocol v1.1 fields and messages (directing, timeline, live), named and shaped as the
// addendum says.
using System;
using System.Collections.Generic;
using MotionBridge.MessagePack;
using MotionBridge.Protocol;
using NUnit.Framework;

namespace MotionBridge.Tests
{
    [TestFixture]
    public class ProtocolV11CodecTests
    {
        /// <summary>What the daemon receives: the request written and read back as MessagePack.</summary>
        private static MessagePackMap OnTheWire(MessagePackMap map)
        {
            return (MessagePackMap)MessagePackReader.Deserialize(MessagePackWriter.Serialize(map));
        }

        private static ServerMessage Decode(MessagePackMap map)
        {
            return ProtocolCodec.Decode(MessagePackWriter.Serialize(map));
        }

        private static object Field(MessagePackMap map, string name)
        {
            object value;
            Assert.IsTrue(map.TryGetValue(name, out value), "missing field '" + name + "'");
            return value;
        }

        private static List<string> Keys(MessagePackMap map)
        {
            var keys = new List<string>();
            foreach (var entry in map.Entries)
            {
                keys.Add((string)entry.Key);
            }
            return keys;
        }

        private static float[] Floats(object bytes)
        {
            Assert.IsInstanceOf<byte[]>(bytes, "binary fields go out as bin");
            return LittleEndianFloats.FromBytes((byte[])bytes);
        }

        [Test]
        public void A_v1_request_carries_none_of_the_v11_fields()
        {
            var wire = OnTheWire(new GenerateRequest { Prompt = "walk" }.ToMap("r1"));
            foreach (var name in new[] { "start", "keys", "path", "end", "segments" })
            {
                Assert.IsFalse(wire.ContainsKey(name), name);
            }
            CollectionAssert.IsEmpty(new GenerateRequest { Prompt = "walk" }.RequiredCapabilities());
        }

        [Test]
        public void Start_from_frames_is_motion_with_root_rotations_and_frames()
        {
            var root = new[] { 1f, 2f, 3f, 4f, 5f, 6f };
            var rotations = new float[2 * 3 * 4];
            for (int k = 0; k < rotations.Length; k++)
            {
                rotations[k] = k * 0.25f;
            }
            var request = new GenerateRequest { Prompt = "walk on", Start = StartMotion.FromFrames(root, rotations, 2) };
            var start = (MessagePackMap)Field(OnTheWire(request.ToMap("r1")), "start");
            CollectionAssert.AreEqual(new[] { "motion" }, Keys(start));
            var motion = (MessagePackMap)Field(start, "motion");
            CollectionAssert.AreEquivalent(new[] { "root", "rotations", "frames" }, Keys(motion));
            CollectionAssert.AreEqual(root, Floats(Field(motion, "root")));
            CollectionAssert.AreEqual(rotations, Floats(Field(motion, "rotations")));
            Assert.AreEqual(2L, Field(motion, "frames"));
            CollectionAssert.AreEqual(new[] { Capabilities.Constraints }, request.RequiredCapabilities());
        }

        [Test]
        public void Start_from_a_job_is_job_and_sample()
        {
            var request = new GenerateRequest { Prompt = "walk on", Start = StartMotion.FromJob("j42", 1) };
            var start = (MessagePackMap)Field(OnTheWire(request.ToMap("r1")), "start");
            CollectionAssert.AreEqual(new[] { "job", "sample" }, Keys(start));
            Assert.AreEqual("j42", Field(start, "job"));
            Assert.AreEqual(1L, Field(start, "sample"));
        }

        [Test]
        public void Start_frames_must_match_the_arrays()
        {
            Assert.Throws<ArgumentException>(() => StartMotion.FromFrames(new float[6], new float[8], 1));
            Assert.Throws<ArgumentException>(() => StartMotion.FromFrames(new float[3], new float[6], 1));
            Assert.Throws<ArgumentOutOfRangeException>(() => StartMotion.FromFrames(new float[0], new float[0], 0));
        }

        [Test]
        public void Path_points_are_time_position_and_optional_facing()
        {
            var request = new GenerateRequest
            {
                Prompt = "walk",
                Seconds = 4,
                Path = new List<PathPoint> { new PathPoint(1.5, 0.25, 0.0, 2.0, null), new PathPoint(3.0, -1.0, 0.5, 3.0, 0.75) },
            };
            var path = (List<object>)Field(OnTheWire(request.ToMap("r1")), "path");
            Assert.AreEqual(2, path.Count);
            var first = (MessagePackMap)path[0];
            CollectionAssert.AreEqual(new[] { "time", "position" }, Keys(first));
            Assert.AreEqual(1.5, Field(first, "time"));
            CollectionAssert.AreEqual(new object[] { 0.25, 0.0, 2.0 }, (List<object>)Field(first, "position"));
            var second = (MessagePackMap)path[1];
            CollectionAssert.AreEqual(new[] { "time", "position", "facing" }, Keys(second));
            Assert.AreEqual(0.75, Field(second, "facing"));
            CollectionAssert.AreEqual(new[] { Capabilities.Constraints }, request.RequiredCapabilities());
        }

        [Test]
        public void A_path_point_outside_the_clip_is_refused_before_sending()
        {
            var request = new GenerateRequest
            {
                Prompt = "walk",
                Seconds = 2,
                Path = new List<PathPoint> { new PathPoint(2.5, 0, 0, 1, null) },
            };
            StringAssert.Contains("outside the clip", request.Validate(null));
            request.Path = new List<PathPoint> { new PathPoint(1, double.NaN, 0, 1, null) };
            StringAssert.Contains("finite", request.Validate(null));
        }

        [Test]
        public void Segments_replace_the_prompt_and_seconds_is_their_sum()
        {
            var request = new GenerateRequest
            {
                Prompt = "",
                Seconds = 5,
                Segments = new List<TimelineSegment> { new TimelineSegment("a man strolls", 3.0), new TimelineSegment("he sits down", 1.5) },
            };
            Assert.IsNull(request.Validate(null));
            var wire = OnTheWire(request.ToMap("r1"));
            Assert.IsFalse(wire.ContainsKey("prompt"), "prompt may be omitted with segments");
            Assert.AreEqual(4.5, Field(wire, "seconds"));
            var segments = (List<object>)Field(wire, "segments");
            Assert.AreEqual(2, segments.Count);
            var second = (MessagePackMap)segments[1];
            CollectionAssert.AreEqual(new[] { "prompt", "seconds" }, Keys(second));
            Assert.AreEqual("he sits down", Field(second, "prompt"));
            Assert.AreEqual(1.5, Field(second, "seconds"));
            CollectionAssert.AreEqual(new[] { Capabilities.Timeline }, request.RequiredCapabilities());
        }

        [Test]
        public void Segments_are_checked_against_the_daemons_limits()
        {
            var request = new GenerateRequest
            {
                Segments = new List<TimelineSegment> { new TimelineSegment("walk", 8), new TimelineSegment("run", 8) },
            };
            var limits = new ServerLimits { MaxPromptChars = 100, MaxSeconds = 12, MaxSamples = 1, MaxSteps = 50 };
            StringAssert.Contains("add up to 16", request.Validate(limits));
            request.Segments[1] = new TimelineSegment("  ", 2);
            StringAssert.Contains("segment 2 has no prompt", request.Validate(limits));
        }

        [Test]
        public void Keys_and_end_carry_poses_and_effectors()
        {
            var rotations = new float[3 * 4];
            rotations[3] = rotations[7] = rotations[11] = 1f;
            var request = new GenerateRequest
            {
                Prompt = "wave",
                Keys = new List<MotionKey>
                {
                    MotionKey.ForPose(1.0, new DirectedPose(rotations, new[] { 0.0, 0.9, 0.1 }), new[] { "RightUpperArm" }, 0.5),
                    MotionKey.ForEffector(2.0, "RightHand", new[] { 0.3, 1.5, 0.2 }, 1.0),
                },
                End = new DirectedPose(rotations, null),
            };
            var wire = OnTheWire(request.ToMap("r1"));
            var keys = (List<object>)Field(wire, "keys");
            var pose = (MessagePackMap)keys[0];
            CollectionAssert.AreEqual(new[] { "time", "pose", "joints", "weight" }, Keys(pose));
            var poseMap = (MessagePackMap)Field(pose, "pose");
            CollectionAssert.AreEqual(rotations, Floats(Field(poseMap, "rotations")));
            CollectionAssert.AreEqual(new object[] { 0.0, 0.9, 0.1 }, (List<object>)Field(poseMap, "root"));
            CollectionAssert.AreEqual(new object[] { "RightUpperArm" }, (List<object>)Field(pose, "joints"));
            Assert.AreEqual(0.5, Field(pose, "weight"));
            var effector = (MessagePackMap)keys[1];
            CollectionAssert.AreEqual(new[] { "time", "effector", "position", "weight" }, Keys(effector));
            Assert.AreEqual("RightHand", Field(effector, "effector"));
            var end = (MessagePackMap)Field(wire, "end");
            CollectionAssert.AreEqual(new[] { "pose" }, Keys(end));
            CollectionAssert.AreEqual(new[] { "rotations" }, Keys((MessagePackMap)Field(end, "pose")), "no root: root free");
        }

        [Test]
        public void More_keys_than_max_keys_are_refused_before_sending()
        {
            var request = new GenerateRequest { Prompt = "walk", Keys = new List<MotionKey>() };
            for (int i = 0; i < 5; i++)
            {
                request.Keys.Add(MotionKey.ForEffector(0.1 * i, "Head", new[] { 0.0, 1.6, 0.0 }, 1.0));
            }
            var limits = new ServerLimits { MaxPromptChars = 100, MaxSeconds = 12, MaxSamples = 1, MaxSteps = 50, MaxKeys = 4 };
            StringAssert.Contains("at most 4 keys", request.Validate(limits));
        }

        [Test]
        public void Hello_capabilities_and_max_keys_are_read()
        {
            var hello = (HelloMessage)Decode(TestMessages.HelloServing(Capabilities.Constraints, Capabilities.Live));
            CollectionAssert.AreEqual(new[] { "constraints", "live" }, hello.Capabilities);
            Assert.IsTrue(hello.Serves(Capabilities.Live));
            Assert.IsFalse(hello.Serves(Capabilities.Timeline));
            Assert.AreEqual(4, hello.Limits.MaxKeys);
            var v1 = (HelloMessage)Decode(TestMessages.Hello("none"));
            CollectionAssert.IsEmpty(v1.Capabilities);
            Assert.AreEqual(0, v1.Limits.MaxKeys);
        }

        [Test]
        public void Done_segments_are_read_as_frame_spans()
        {
            var map = TestMessages.Done("r1", 150).Add("segments", new List<object>
            {
                new MessagePackMap().Add("start", 0L).Add("count", 90L),
                new MessagePackMap().Add("start", 90L).Add("count", 60L),
            });
            var done = (DoneMessage)Decode(map);
            Assert.AreEqual(2, done.Segments.Length);
            Assert.AreEqual(90, done.Segments[1].Start);
            Assert.AreEqual(60, done.Segments[1].Count);
            Assert.IsNull(((DoneMessage)Decode(TestMessages.Done("r1", 150))).Segments);
            map.Add("segments", new List<object> { new MessagePackMap().Add("start", 0L) });
            StringAssert.Contains("count", Assert.Throws<ProtocolException>(() => Decode(map)).Message);
        }

        [Test]
        public void Live_start_has_every_field_of_the_addendum()
        {
            var request = new LiveRequest { Prompt = "a person jogs", Seed = 9, BufferMs = 750, Area = 2.5 };
            var wire = OnTheWire(request.ToMap("l1"));
            CollectionAssert.AreEqual(new[] { "op", "id", "prompt", "target", "seed", "buffer_ms", "area" }, Keys(wire));
            Assert.AreEqual("live_start", Field(wire, "op"));
            Assert.AreEqual("l1", Field(wire, "id"));
            Assert.AreEqual("a person jogs", Field(wire, "prompt"));
            Assert.AreEqual("unity", Field(wire, "target"));
            Assert.AreEqual(9L, Field(wire, "seed"));
            Assert.AreEqual(750L, Field(wire, "buffer_ms"));
            Assert.AreEqual(2.5, Field(wire, "area"));
            Assert.AreEqual(500, new LiveRequest().BufferMs, "the addendum's default");
        }

        [Test]
        public void Live_start_is_checked_before_sending()
        {
            Assert.AreEqual("type a prompt first", new LiveRequest { Prompt = " " }.Validate(null));
            StringAssert.Contains("area", new LiveRequest { Prompt = "walk", Area = -1 }.Validate(null));
            StringAssert.Contains("seed", new LiveRequest { Prompt = "walk", Seed = -1 }.Validate(null));
            Assert.IsNull(new LiveRequest { Prompt = "walk" }.Validate(null));
        }

        [Test]
        public void Live_prompt_and_live_stop_carry_the_live_id()
        {
            var prompt = OnTheWire(ClientMessages.LivePrompt("l1", "now he runs"));
            CollectionAssert.AreEqual(new[] { "op", "id", "prompt" }, Keys(prompt));
            Assert.AreEqual("live_prompt", Field(prompt, "op"));
            Assert.AreEqual("l1", Field(prompt, "id"));
            Assert.AreEqual("now he runs", Field(prompt, "prompt"));
            var stop = OnTheWire(ClientMessages.LiveStop("l1"));
            CollectionAssert.AreEqual(new[] { "op", "id" }, Keys(stop));
            Assert.AreEqual("live_stop", Field(stop, "op"));
        }

        [Test]
        public void Live_state_gives_prompt_and_frame()
        {
            var state = (LiveStateMessage)Decode(new MessagePackMap()
                .Add("op", "live_state").Add("id", "l1").Add("prompt", "now he runs").Add("frame", 412L));
            Assert.AreEqual("l1", state.Id);
            Assert.AreEqual("now he runs", state.Prompt);
            Assert.AreEqual(412, state.Frame);
            var broken = new MessagePackMap().Add("op", "live_state").Add("id", "l1").Add("prompt", "x").Add("frame", 1.5);
            StringAssert.Contains("frame", Assert.Throws<ProtocolException>(() => Decode(broken)).Message);
        }

        [Test]
        public void Live_motion_is_flagged_and_its_frames_count_from_the_session_start()
        {
            var motion = (MotionMessage)Decode(TestMessages.LiveMotion("l1", 300, 6));
            Assert.IsTrue(motion.Live);
            Assert.IsFalse(motion.Final);
            Assert.IsFalse(motion.Preview);
            Assert.AreEqual(300, motion.Start);
            Assert.AreEqual(6, motion.Count);
            Assert.AreEqual(3000f, motion.Root[0]);
            Assert.IsFalse(((MotionMessage)Decode(TestMessages.Motion("r1", 0, false, true, 0, 2, 2))).Live);
        }
    }
}
