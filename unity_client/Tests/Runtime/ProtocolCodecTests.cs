// MotionBridge tests: decoding server messages and encoding requests (docs/protocol.md).
using System;
using System.Collections.Generic;
using MotionBridge.MessagePack;
using MotionBridge.Protocol;
using NUnit.Framework;

namespace MotionBridge.Tests
{
    [TestFixture]
    public class ProtocolCodecTests
    {
        private static ServerMessage Decode(MessagePackMap map)
        {
            return ProtocolCodec.Decode(MessagePackWriter.Serialize(map));
        }

        [Test]
        public void Hello_gives_model_skeleton_limits_and_target_joint_names()
        {
            var hello = (HelloMessage)Decode(TestMessages.Hello("token"));
            Assert.AreEqual(1, hello.ProtocolVersion);
            Assert.IsTrue(hello.TokenRequired);
            Assert.AreEqual("tiny", hello.Model.Name);
            Assert.AreEqual(30, hello.Model.Fps);
            Assert.AreEqual(5.0, hello.Model.DefaultCfg);
            CollectionAssert.AreEqual(new[] { -1, 0, 1 }, hello.Skeleton.Parents);
            Assert.AreEqual(0.95, hello.Skeleton.Rest[1]);
            Assert.AreEqual(8, hello.Limits.MaxSamples);
            CollectionAssert.AreEqual(TestMessages.Joints, hello.TargetJoints["unity"]);
        }

        [Test]
        public void Hello_with_a_parent_after_its_child_is_refused()
        {
            var map = TestMessages.Hello("none");
            object skeleton;
            map.TryGetValue("skeleton", out skeleton);
            ((MessagePackMap)skeleton).Add("parents", new List<object> { -1L, 2L, 0L });
            var error = Assert.Throws<ProtocolException>(() => Decode(map));
            StringAssert.Contains("invalid parent", error.Message);
        }

        [Test]
        public void Motion_floats_are_decoded_bit_for_bit()
        {
            var motion = (MotionMessage)Decode(TestMessages.Motion("r1", 1, false, true, 2, 2, 4));
            Assert.AreEqual("r1", motion.Id);
            Assert.AreEqual(1, motion.Sample);
            Assert.AreEqual(8, motion.Seed);
            Assert.IsTrue(motion.Final);
            Assert.AreEqual(2, motion.Start);
            Assert.AreEqual(4, motion.Total);
            Assert.AreEqual(-1, motion.Step);
            Assert.AreEqual(6, motion.Root.Length);
            Assert.AreEqual(25f, motion.Root[5]);
            Assert.AreEqual(2 * 3 * 4, motion.Rotations.Length);
            Assert.AreEqual(223f, motion.Rotations[23]);
        }

        [Test]
        public void Whole_float_fps_is_accepted_and_fractional_fps_refused()
        {
            var map = TestMessages.Motion("r1", 0, false, true, 0, 2, 2);
            Assert.AreEqual(30, ((MotionMessage)Decode(map)).Fps);
            map.Add("fps", 29.97);
            var error = Assert.Throws<ProtocolException>(() => Decode(map));
            StringAssert.Contains("whole number", error.Message);
        }

        [Test]
        public void Motion_with_wrong_byte_count_names_the_field()
        {
            var map = TestMessages.Motion("r1", 0, false, true, 0, 2, 2);
            map.Add("rotations", new byte[10]);
            var error = Assert.Throws<ProtocolException>(() => Decode(map));
            StringAssert.Contains("rotations", error.Message);
        }

        [Test]
        public void Motion_chunk_past_total_is_refused()
        {
            var error = Assert.Throws<ProtocolException>(() => Decode(TestMessages.Motion("r1", 0, false, true, 3, 2, 4)));
            StringAssert.Contains("beyond total", error.Message);
        }

        [Test]
        public void Progress_without_eta_has_nan_and_a_fraction()
        {
            var map = new MessagePackMap().Add("op", "progress").Add("id", "r1").Add("job", "j1")
                .Add("step", 5L).Add("steps", 20L);
            var progress = (ProgressMessage)Decode(map);
            Assert.IsTrue(double.IsNaN(progress.EtaMs));
            Assert.AreEqual(0.25f, progress.Fraction);
            map.Add("eta_ms", 812.5f);
            Assert.AreEqual(812.5, ((ProgressMessage)Decode(map)).EtaMs);
        }

        [Test]
        public void Done_accepts_integer_or_float_timings()
        {
            var done = (DoneMessage)Decode(TestMessages.Done("r1", 60));
            Assert.AreEqual(60, done.Frames);
            Assert.AreEqual(2.0, done.Timings.TextMs);
            Assert.AreEqual(30.25, done.Timings.SampleMs);
            Assert.IsFalse(done.Cached);
        }

        [Test]
        public void Error_without_id_is_allowed()
        {
            var error = (ErrorMessage)Decode(new MessagePackMap().Add("op", "error").Add("code", "bad_request")
                .Add("message", "undecodable"));
            Assert.IsNull(error.Id);
            Assert.AreEqual(ErrorCodes.BadRequest, error.Code);
        }

        [Test]
        public void Wrong_field_types_are_typed_errors()
        {
            var boolAsNumber = new MessagePackMap().Add("op", "progress").Add("id", "r1").Add("job", "j1")
                .Add("step", true).Add("steps", 20L);
            var error = Assert.Throws<ProtocolException>(() => Decode(boolAsNumber));
            StringAssert.Contains("'step'", error.Message);
            Assert.Throws<ProtocolException>(() => Decode(new MessagePackMap().Add("op", "accepted").Add("id", 3L)));
        }

        [Test]
        public void Null_optional_field_counts_as_absent()
        {
            var map = new MessagePackMap().Add("op", "accepted").Add("id", "r1").Add("job", "j1")
                .Add("queue_position", null);
            Assert.AreEqual(0, ((AcceptedMessage)Decode(map)).QueuePosition);
        }

        [Test]
        public void Unknown_ops_and_fields_are_kept_not_fatal()
        {
            var message = Decode(new MessagePackMap().Add("op", "telemetry").Add("id", "x").Add("extra", 1L));
            Assert.IsInstanceOf<UnknownMessage>(message);
            Assert.AreEqual("telemetry", message.Op);
            var ready = Decode(TestMessages.Ready().Add("future_field", new List<object>()));
            Assert.IsInstanceOf<ReadyMessage>(ready);
        }

        [Test]
        public void Non_map_and_missing_op_are_refused()
        {
            Assert.Throws<ProtocolException>(() => ProtocolCodec.Decode(MessagePackWriter.Serialize(new List<object>())));
            Assert.Throws<ProtocolException>(() => Decode(new MessagePackMap().Add("id", "r1")));
            Assert.Throws<ProtocolException>(() => ProtocolCodec.Decode(new byte[] { 0xc1 }));
        }

        [Test]
        public void Generate_encodes_protocol_fields_and_omits_unset_steps_and_cfg()
        {
            var request = new GenerateRequest { Prompt = "a person waves", Seconds = 2.5, Seed = 3, Samples = 2 };
            var map = (MessagePackMap)MessagePackReader.Deserialize(ProtocolCodec.Encode(request.ToMap("r9")));
            var fields = new MessageFields(map, "generate");
            Assert.AreEqual("generate", fields.RequireString("op"));
            Assert.AreEqual("r9", fields.RequireString("id"));
            Assert.AreEqual("unity", fields.RequireString("target"));
            Assert.AreEqual(2.5, fields.RequireNumber("seconds"));
            Assert.AreEqual(2, fields.RequireInteger("samples"));
            Assert.IsFalse(map.ContainsKey("steps"));
            Assert.IsFalse(map.ContainsKey("cfg"));
            request.Steps = 10;
            request.Cfg = 4.0;
            map = (MessagePackMap)MessagePackReader.Deserialize(ProtocolCodec.Encode(request.ToMap("r9")));
            Assert.AreEqual(10, new MessageFields(map, "generate").RequireInteger("steps"));
        }

        [Test]
        public void Generate_validation_names_the_setting_to_change()
        {
            var limits = new ServerLimits { MaxPromptChars = 10, MaxSeconds = 12, MaxSamples = 4, MaxSteps = 100 };
            Assert.IsNull(new GenerateRequest { Prompt = "walk" }.Validate(limits));
            StringAssert.Contains("prompt", new GenerateRequest { Prompt = "   " }.Validate(limits));
            StringAssert.Contains("longer", new GenerateRequest { Prompt = "a person walks" }.Validate(limits));
            StringAssert.Contains("seconds", new GenerateRequest { Prompt = "walk", Seconds = 20 }.Validate(limits));
            StringAssert.Contains("seed", new GenerateRequest { Prompt = "walk", Seed = -1 }.Validate(limits));
            StringAssert.Contains("samples", new GenerateRequest { Prompt = "walk", Samples = 5 }.Validate(limits));
            StringAssert.Contains("cfg", new GenerateRequest { Prompt = "walk", Cfg = 25 }.Validate(null));
        }

        [Test]
        public void Identify_carries_a_token_only_when_given()
        {
            Assert.IsFalse(ClientMessages.Identify("c/1", "").ContainsKey("token"));
            object token;
            Assert.IsTrue(ClientMessages.Identify("c/1", "s3cret").TryGetValue("token", out token));
            Assert.AreEqual("s3cret", token);
        }

        [Test]
        public void Close_codes_that_need_the_user_are_fatal()
        {
            Assert.IsTrue(CloseCodes.IsFatal(CloseCodes.Unauthorized));
            Assert.IsTrue(CloseCodes.IsFatal(CloseCodes.UnsupportedProtocol));
            Assert.IsFalse(CloseCodes.IsFatal(CloseCodes.GoingAway));
            Assert.IsFalse(CloseCodes.IsFatal(CloseCodes.TooLarge));
            StringAssert.Contains("token", CloseCodes.Describe(CloseCodes.Unauthorized));
        }
    }
}
