// MotionBridge for Unity: bytes <-> typed protocol messages (sans I/O, tested without sockets).
using System;
using MotionBridge.MessagePack;

namespace MotionBridge.Protocol
{
    /// <summary>
    /// Decodes server messages from MessagePack frames and encodes client messages. Pure functions: the
    /// WebSocket client only moves the bytes. Every malformed message becomes a <see cref="ProtocolException"/>.
    /// </summary>
    public static class ProtocolCodec
    {
        public static byte[] Encode(MessagePackMap message)
        {
            return MessagePackWriter.Serialize(message);
        }

        public static ServerMessage Decode(byte[] frame)
        {
            object value;
            try
            {
                value = MessagePackReader.Deserialize(frame);
            }
            catch (MessagePackException error)
            {
                throw new ProtocolException("undecodable MessagePack frame: " + error.Message);
            }
            var map = value as MessagePackMap;
            if (map == null)
            {
                throw new ProtocolException("a message must be a map, got " + (value == null ? "nil" : value.GetType().Name));
            }
            object opValue;
            map.TryGetValue("op", out opValue);
            var op = opValue as string;
            if (op == null)
            {
                throw new ProtocolException("message has no string field 'op'");
            }
            var fields = new MessageFields(map, op);
            switch (op)
            {
                case "hello":
                    return DecodeHello(fields);
                case "ready":
                    return new ReadyMessage(fields.OptionalString("session", null));
                case "accepted":
                    return new AcceptedMessage(
                        fields.RequireString("id"), fields.RequireString("job"), fields.OptionalInt32("queue_position", 0));
                case "progress":
                    return new ProgressMessage(
                        fields.RequireString("id"),
                        fields.RequireString("job"),
                        fields.RequireInt32("step"),
                        fields.RequireInt32("steps"),
                        fields.OptionalNumber("eta_ms", double.NaN));
                case "motion":
                    return DecodeMotion(fields);
                case "done":
                    return DecodeDone(fields);
                case "error":
                    return new ErrorMessage(
                        fields.OptionalString("id", null), fields.RequireString("code"), fields.OptionalString("message", ""));
                case "status":
                    return DecodeStatus(fields);
                case "live_state":
                    return new LiveStateMessage(
                        fields.RequireString("id"), fields.RequireString("prompt"), fields.RequireInt32("frame"));
                default:
                    return new UnknownMessage(op, map.ContainsKey("id") ? fields.Raw("id") as string : null, map);
            }
        }

        private static HelloMessage DecodeHello(MessageFields fields)
        {
            var hello = new HelloMessage
            {
                ProtocolVersion = fields.RequireInt32("protocol"),
                Server = fields.OptionalString("server", ""),
                Session = fields.OptionalString("session", ""),
                Auth = fields.OptionalString("auth", "none"),
            };
            var model = fields.RequireMap("model");
            hello.Model = new ModelInfo
            {
                Name = model.RequireString("name"),
                Fps = model.RequireWholeNumber("fps"),
                MaxSeconds = model.RequireNumber("max_seconds"),
                DefaultSteps = model.RequireInt32("default_steps"),
                DefaultCfg = model.RequireNumber("default_cfg"),
                Device = model.OptionalString("device", ""),
            };
            var skeleton = fields.RequireMap("skeleton");
            hello.Skeleton = new SkeletonInfo
            {
                Name = skeleton.RequireString("name"),
                Joints = skeleton.RequireStringArray("joints"),
                Parents = skeleton.RequireIntArray("parents"),
                Rest = skeleton.RequireNumberRows("rest", 3),
            };
            CheckSkeleton(hello.Skeleton);
            var limits = fields.RequireMap("limits");
            hello.Limits = new ServerLimits
            {
                MaxPromptChars = limits.RequireInt32("max_prompt_chars"),
                MaxSeconds = limits.RequireNumber("max_seconds"),
                MaxSamples = limits.RequireInt32("max_samples"),
                MaxSteps = limits.RequireInt32("max_steps"),
                MaxInflight = limits.RequireInt32("max_inflight"),
                MaxMessageBytes = limits.OptionalInt32("max_message_bytes", 2 * 1024 * 1024),
                MaxKeys = limits.OptionalInt32("max_keys", 0),
            };
            if (fields.Has("capabilities"))
            {
                hello.Capabilities = fields.RequireStringArray("capabilities");
            }
            var targets = fields.OptionalMap("targets");
            if (targets != null)
            {
                foreach (var entry in targets.Map.Entries)
                {
                    var name = entry.Key as string;
                    var target = entry.Value as MessagePackMap;
                    if (name != null && target != null && target.ContainsKey("joints"))
                    {
                        var joints = new MessageFields(target, "hello.targets." + name).RequireStringArray("joints");
                        if (joints.Length == hello.Skeleton.JointCount)
                        {
                            hello.TargetJoints[name] = joints;
                        }
                    }
                }
            }
            return hello;
        }

        private static void CheckSkeleton(SkeletonInfo skeleton)
        {
            int count = skeleton.Joints.Length;
            if (count == 0)
            {
                throw new ProtocolException("hello skeleton has no joints");
            }
            if (skeleton.Parents.Length != count || skeleton.Rest.Length != 3 * count)
            {
                throw new ProtocolException(
                    "hello skeleton has " + count + " joints but " + skeleton.Parents.Length + " parents and "
                    + skeleton.Rest.Length / 3 + " rest offsets");
            }
            for (int j = 0; j < count; j++)
            {
                int parent = skeleton.Parents[j];
                // Parents come before children (the FK order every client relies on); the root alone has -1.
                if (j == 0 ? parent != -1 : parent < 0 || parent >= j)
                {
                    throw new ProtocolException("hello skeleton joint " + j + " has invalid parent " + parent);
                }
            }
        }

        private static MotionMessage DecodeMotion(MessageFields fields)
        {
            var motion = new MotionMessage(fields.RequireString("id"))
            {
                Job = fields.RequireString("job"),
                Sample = fields.RequireInt32("sample"),
                Seed = fields.OptionalInteger("seed", -1),
                Preview = fields.RequireBoolean("preview"),
                Final = fields.RequireBoolean("final"),
                Start = fields.RequireInt32("start"),
                Count = fields.RequireInt32("count"),
                Fps = fields.RequireWholeNumber("fps"),
                Target = fields.RequireString("target"),
                Joints = fields.RequireStringArray("joints"),
                Step = fields.OptionalInt32("step", -1),
                Live = fields.OptionalBoolean("live", false),
            };
            // A live stream has no end, so whatever `total` it carries does not bound its chunks.
            motion.Total = motion.Live ? motion.Start + motion.Count : fields.OptionalInt32("total", motion.Start + motion.Count);
            if (motion.Sample < 0 || motion.Start < 0 || motion.Count < 0 || motion.Fps <= 0)
            {
                throw new ProtocolException("'motion' has a negative sample/start/count or a non-positive fps");
            }
            if (motion.Start + motion.Count > motion.Total)
            {
                throw new ProtocolException(
                    "'motion' chunk ends at frame " + (motion.Start + motion.Count) + " beyond total " + motion.Total);
            }
            if (motion.Joints.Length == 0)
            {
                throw new ProtocolException("'motion' has no joints");
            }
            var root = fields.RequireBytes("root");
            var rotations = fields.RequireBytes("rotations");
            long rootBytes = 12L * motion.Count;
            long rotationBytes = 16L * motion.Count * motion.Joints.Length;
            if (root.Length != rootBytes)
            {
                throw new ProtocolException(
                    "'motion' root has " + root.Length + " bytes, expected count×3×4 = " + rootBytes);
            }
            if (rotations.Length != rotationBytes)
            {
                throw new ProtocolException(
                    "'motion' rotations has " + rotations.Length + " bytes, expected count×joints×4×4 = " + rotationBytes);
            }
            motion.Root = LittleEndianFloats.FromBytes(root);
            motion.Rotations = LittleEndianFloats.FromBytes(rotations);
            return motion;
        }

        private static DoneMessage DecodeDone(MessageFields fields)
        {
            var done = new DoneMessage(fields.RequireString("id"))
            {
                Job = fields.RequireString("job"),
                Samples = fields.RequireInt32("samples"),
                Frames = fields.RequireInt32("frames"),
                Seconds = fields.RequireNumber("seconds"),
                Cached = fields.OptionalBoolean("cached", false),
                Timings = new Timings(),
            };
            var timings = fields.OptionalMap("timings");
            if (timings != null)
            {
                done.Timings.QueueMs = timings.OptionalNumber("queue_ms", 0);
                done.Timings.TextMs = timings.OptionalNumber("text_ms", 0);
                done.Timings.SampleMs = timings.OptionalNumber("sample_ms", 0);
                done.Timings.DecodeMs = timings.OptionalNumber("decode_ms", 0);
                done.Timings.TotalMs = timings.OptionalNumber("total_ms", 0);
            }
            if (fields.Has("segments"))
            {
                var list = fields.RequireArray("segments");
                done.Segments = new SegmentSpan[list.Count];
                for (int i = 0; i < list.Count; i++)
                {
                    var entry = list[i] as MessagePackMap;
                    if (entry == null)
                    {
                        throw new ProtocolException("'done' field 'segments[" + i + "]' must be a map");
                    }
                    var segment = new MessageFields(entry, "done.segments[" + i + "]");
                    done.Segments[i] = new SegmentSpan(segment.RequireInt32("start"), segment.RequireInt32("count"));
                }
            }
            return done;
        }

        private static StatusMessage DecodeStatus(MessageFields fields)
        {
            return new StatusMessage(fields.RequireString("id"))
            {
                Queue = fields.OptionalInt32("queue", 0),
                Running = fields.OptionalInt32("running", 0),
                Busy = fields.OptionalBoolean("busy", false),
                Device = fields.OptionalString("device", ""),
                Model = fields.OptionalString("model", ""),
                Uptime = fields.OptionalNumber("uptime", 0),
            };
        }
    }
}
