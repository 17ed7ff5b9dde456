// MotionBridge CI tests: the C# MessagePack code against bytes that Python's msgpack produced in this test run.
// Driven by tests/unity/test_runtime_nunit.py, which writes the fixtures and reads back what C# wrote.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using MotionBridge.MessagePack;
using MotionBridge.Protocol;
using NUnit.Framework;

namespace MotionBridge.Tests.Interop
{
    /// <summary>
    /// For every fixture `name.msgpack` (packed by msgpack-python) with its canonical description `name.txt`:
    /// the C# reader must decode to the same description and the C# writer must re-encode the identical bytes.
    /// Protocol fixtures (`protocol_*.msgpack`, packed by bridge.protocol) are decoded with ProtocolCodec and their
    /// float payloads written back for Python to compare bit for bit.
    /// </summary>
    [TestFixture]
    public class MessagePackInteropTests
    {
        private static string FixtureDirectory
        {
            get
            {
                var dir = Environment.GetEnvironmentVariable("MOTIONBRIDGE_MSGPACK_FIXTURES");
                if (string.IsNullOrEmpty(dir) || !Directory.Exists(dir))
                {
                    Assert.Fail("MOTIONBRIDGE_MSGPACK_FIXTURES must name the folder tests/unity/test_runtime_nunit.py fills");
                }
                return dir;
            }
        }

        private static string OutputDirectory
        {
            get
            {
                var dir = Path.Combine(FixtureDirectory, "from_csharp");
                Directory.CreateDirectory(dir);
                return dir;
            }
        }

        [Test]
        public void Every_python_fixture_decodes_to_its_description_and_reencodes_identically()
        {
            var files = Directory.GetFiles(FixtureDirectory, "value_*.msgpack");
            Assert.Greater(files.Length, 40, "the fixture folder looks empty");
            var failures = new List<string>();
            foreach (var file in files)
            {
                string name = Path.GetFileNameWithoutExtension(file);
                var bytes = File.ReadAllBytes(file);
                string expected = File.ReadAllText(Path.ChangeExtension(file, ".txt"), Encoding.UTF8).Trim();
                object value;
                try
                {
                    value = MessagePackReader.Deserialize(bytes);
                }
                catch (MessagePackException error)
                {
                    failures.Add(name + ": " + error.Message);
                    continue;
                }
                string actual = Describe(value);
                if (actual != expected)
                {
                    failures.Add(name + ": decoded " + Shorten(actual) + ", expected " + Shorten(expected));
                    continue;
                }
                var again = MessagePackWriter.Serialize(value);
                if (Convert.ToBase64String(again) != Convert.ToBase64String(bytes))
                {
                    failures.Add(name + ": re-encoded bytes differ from msgpack-python's");
                }
            }
            Assert.IsEmpty(failures, string.Join("\n", failures.ToArray()));
        }

        [Test]
        public void Malformed_python_fixtures_are_refused_with_a_typed_error()
        {
            var files = Directory.GetFiles(FixtureDirectory, "bad_*.msgpack");
            Assert.Greater(files.Length, 3);
            foreach (var file in files)
            {
                var bytes = File.ReadAllBytes(file);
                Assert.Throws<MessagePackException>(() => MessagePackReader.Deserialize(bytes), Path.GetFileName(file));
            }
        }

        [Test]
        public void Daemon_encoded_messages_decode_and_their_floats_are_written_back()
        {
            var hello = (HelloMessage)ProtocolCodec.Decode(File.ReadAllBytes(Path.Combine(FixtureDirectory, "protocol_hello.msgpack")));
            Assert.AreEqual(22, hello.Skeleton.JointCount);
            Assert.AreEqual(22, hello.TargetJoints["unity"].Length);
            var skeleton = new MotionBridge.Motion.UnitySourceSkeleton(hello.Skeleton, hello.TargetJoints["unity"]);
            File.WriteAllBytes(Path.Combine(OutputDirectory, "rest_unity.f32"), LittleEndianFloats.ToBytes(skeleton.RestOffsets));
            File.WriteAllText(Path.Combine(OutputDirectory, "unity_joints.txt"), string.Join("\n", skeleton.Joints));

            var buffer = new MotionBridge.Motion.MotionFrameBuffer();
            var chunks = Directory.GetFiles(FixtureDirectory, "protocol_motion_*.msgpack");
            // Chunks must arrive in order, as they do on the socket; directory listings have no order.
            Array.Sort(chunks, StringComparer.Ordinal);
            foreach (var file in chunks)
            {
                buffer.Add((MotionMessage)ProtocolCodec.Decode(File.ReadAllBytes(file)));
            }
            var take = buffer.Final("py1", 0);
            Assert.IsNotNull(take, "the chunked motion did not assemble");
            File.WriteAllBytes(Path.Combine(OutputDirectory, "motion_root.f32"), LittleEndianFloats.ToBytes(take.Root));
            File.WriteAllBytes(Path.Combine(OutputDirectory, "motion_rotations.f32"), LittleEndianFloats.ToBytes(take.Rotations));
            var done = (DoneMessage)ProtocolCodec.Decode(File.ReadAllBytes(Path.Combine(FixtureDirectory, "protocol_done.msgpack")));
            Assert.AreEqual(take.FrameCount, done.Frames);
        }

        [Test]
        public void Requests_written_in_csharp_are_left_for_python_to_read()
        {
            var request = new GenerateRequest
            {
                Prompt = "a person waves — twice",
                Seconds = 2.5,
                Seed = 2147483647,
                Samples = 3,
                Steps = 12,
                Cfg = 4.5,
                PreviewEvery = 4,
                ChunkFrames = 16,
                Loop = true,
            };
            File.WriteAllBytes(Path.Combine(OutputDirectory, "generate.msgpack"), ProtocolCodec.Encode(request.ToMap("cs-1")));
            File.WriteAllBytes(Path.Combine(OutputDirectory, "identify.msgpack"),
                ProtocolCodec.Encode(ClientMessages.Identify("nunit/1", "s3cret")));
            File.WriteAllBytes(Path.Combine(OutputDirectory, "fetch.msgpack"),
                ProtocolCodec.Encode(ClientMessages.Fetch("cs-2", "j123", "unity")));
        }

        [Test]
        public void Daemon_encoded_v11_messages_decode_and_what_they_hold_is_written_back()
        {
            var hello = (HelloMessage)ProtocolCodec.Decode(File.ReadAllBytes(Path.Combine(FixtureDirectory, "protocol_v11_hello.msgpack")));
            var done = (DoneMessage)ProtocolCodec.Decode(File.ReadAllBytes(Path.Combine(FixtureDirectory, "protocol_v11_done.msgpack")));
            var lines = new List<string>
            {
                "capabilities=" + string.Join(",", hello.Capabilities),
                "max_keys=" + hello.Limits.MaxKeys,
            };
            foreach (var segment in done.Segments)
            {
                lines.Add("segment=" + segment.Start + "+" + segment.Count);
            }
            var liveFiles = Directory.GetFiles(FixtureDirectory, "protocol_v11_live_motion_*.msgpack");
            Array.Sort(liveFiles, StringComparer.Ordinal);
            if (liveFiles.Length > 0)
            {
                var ring = new MotionBridge.Motion.LiveFrameRing(1000);
                foreach (var file in liveFiles)
                {
                    var motion = (MotionMessage)ProtocolCodec.Decode(File.ReadAllBytes(file));
                    Assert.IsTrue(motion.Live, file);
                    ring.Append(motion);
                }
                var take = ring.TakeLast(1000, ring.Received, "py-live", null, 0);
                File.WriteAllBytes(Path.Combine(OutputDirectory, "live_root.f32"), LittleEndianFloats.ToBytes(take.Root));
                File.WriteAllBytes(Path.Combine(OutputDirectory, "live_rotations.f32"), LittleEndianFloats.ToBytes(take.Rotations));
                var state = (LiveStateMessage)ProtocolCodec.Decode(
                    File.ReadAllBytes(Path.Combine(FixtureDirectory, "protocol_v11_live_state.msgpack")));
                lines.Add("live_state=" + state.Id + "|" + state.Prompt + "|" + state.Frame);
            }
            File.WriteAllText(Path.Combine(OutputDirectory, "v11.txt"), string.Join("\n", lines.ToArray()));
        }

        /// <summary>Frame-major test data: value k is offset + k / 64 (exact in float32).</summary>
        private static float[] Ramp(int count, float offset)
        {
            var values = new float[count];
            for (int k = 0; k < count; k++)
            {
                values[k] = offset + k / 64f;
            }
            return values;
        }

        [Test]
        public void V11_requests_written_in_csharp_are_left_for_python_to_read()
        {
            var directed = new GenerateRequest
            {
                Prompt = "",
                Seed = 5,
                Start = StartMotion.FromFrames(Ramp(2 * 3, 0.5f), Ramp(2 * 22 * 4, -1f), 2),
                Path = new List<PathPoint>
                {
                    new PathPoint(1.0, 0.5, 0.0, 1.0, null),
                    new PathPoint(2.0, -0.75, 0.0, 2.5, 0.5),
                },
                Segments = new List<TimelineSegment>
                {
                    new TimelineSegment("a person walks forward", 2.0),
                    new TimelineSegment("a person jumps", 1.5),
                },
            };
            File.WriteAllBytes(Path.Combine(OutputDirectory, "generate_directed.msgpack"), ProtocolCodec.Encode(directed.ToMap("cs-3")));
            var fromJob = new GenerateRequest { Prompt = "keep walking", Start = StartMotion.FromJob("j77", 1) };
            File.WriteAllBytes(Path.Combine(OutputDirectory, "generate_from_job.msgpack"), ProtocolCodec.Encode(fromJob.ToMap("cs-4")));
            var live = new LiveRequest { Prompt = "a person jogs in a circle", Seed = 3, BufferMs = 400, Area = 1.5 };
            File.WriteAllBytes(Path.Combine(OutputDirectory, "live_start.msgpack"), ProtocolCodec.Encode(live.ToMap("cs-5")));
            File.WriteAllBytes(Path.Combine(OutputDirectory, "live_prompt.msgpack"),
                ProtocolCodec.Encode(ClientMessages.LivePrompt("cs-5", "a person sits down")));
            File.WriteAllBytes(Path.Combine(OutputDirectory, "live_stop.msgpack"), ProtocolCodec.Encode(ClientMessages.LiveStop("cs-5")));
        }

        private static string Shorten(string text)
        {
            return text.Length <= 120 ? text : text.Substring(0, 120) + "…";
        }

        /// <summary>The canonical description tests/unity/test_runtime_nunit.py writes for the same value.</summary>
        public static string Describe(object value)
        {
            if (value == null)
            {
                return "nil";
            }
            if (value is bool)
            {
                return (bool)value ? "true" : "false";
            }
            if (value is long || value is ulong)
            {
                return "int:" + Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);
            }
            if (value is float)
            {
                return "f32:" + BitConverter.ToUInt32(BitConverter.GetBytes((float)value), 0).ToString("x8");
            }
            if (value is double)
            {
                return "f64:" + BitConverter.DoubleToInt64Bits((double)value).ToString("x16");
            }
            if (value is string)
            {
                return "str:" + Hex(Encoding.UTF8.GetBytes((string)value));
            }
            if (value is byte[])
            {
                return "bin:" + Hex((byte[])value);
            }
            var extension = value as MessagePackExtension;
            if (extension != null)
            {
                return "ext:" + extension.TypeCode + ":" + Hex(extension.Data);
            }
            var list = value as List<object>;
            if (list != null)
            {
                var parts = new string[list.Count];
                for (int i = 0; i < list.Count; i++)
                {
                    parts[i] = Describe(list[i]);
                }
                return "[" + string.Join(",", parts) + "]";
            }
            var map = value as MessagePackMap;
            if (map != null)
            {
                var parts = new List<string>();
                foreach (var entry in map.Entries)
                {
                    parts.Add(Describe(entry.Key) + "=" + Describe(entry.Value));
                }
                return "{" + string.Join(",", parts.ToArray()) + "}";
            }
            throw new ArgumentException("unexpected decoded type " + value.GetType());
        }

        private static string Hex(byte[] bytes)
        {
            var text = new StringBuilder(bytes.Length * 2);
            foreach (var b in bytes)
            {
                text.Append(b.ToString("x2"));
            }
            return text.ToString();
        }
    }
}
