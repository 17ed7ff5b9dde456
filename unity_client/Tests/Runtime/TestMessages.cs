// MotionBridge tests: server messages built the way docs/protocol.md describes them.
using System.Collections.Generic;
using MotionBridge.MessagePack;

namespace MotionBridge.Tests
{
    /// <summary>Builders for daemon messages, so tests state only what they vary.</summary>
    public static class TestMessages
    {
        public static readonly string[] Joints = { "Hips", "Spine", "Head" };

        public static MessagePackMap Hello(string auth)
        {
            return new MessagePackMap()
                .Add("op", "hello")
                .Add("protocol", 1L)
                .Add("server", "motionbridge/test")
                .Add("session", "s1")
                .Add("auth", auth)
                .Add("model", new MessagePackMap()
                    .Add("name", "tiny")
                    .Add("fps", 30L)
                    .Add("max_seconds", 12.0)
                    .Add("default_steps", 50L)
                    .Add("default_cfg", 5.0)
                    .Add("device", "cpu"))
                .Add("skeleton", new MessagePackMap()
                    .Add("name", "three")
                    .Add("joints", new List<object> { "pelvis", "spine1", "head" })
                    .Add("parents", new List<object> { -1L, 0L, 1L })
                    .Add("rest", new List<object>
                    {
                        new List<object> { 0.0, 0.95, 0.0 },
                        new List<object> { 0.1, 0.10, -0.015 },
                        new List<object> { 0.0, 0.5, 0.04 },
                    }))
                .Add("limits", new MessagePackMap()
                    .Add("max_prompt_chars", 2000L)
                    .Add("max_seconds", 12.0)
                    .Add("max_samples", 8L)
                    .Add("max_steps", 200L)
                    .Add("max_inflight", 8L)
                    .Add("max_message_bytes", 2097152L))
                .Add("targets", new MessagePackMap()
                    .Add("unity", new MessagePackMap().Add("name", "unity").Add("joints", new List<object>(Joints))));
        }

        /// <summary>A hello of a v1.1 daemon: <paramref name="capabilities"/> listed and `limits.max_keys` announced.</summary>
        public static MessagePackMap HelloServing(params string[] capabilities)
        {
            var hello = Hello("none");
            object limits;
            hello.TryGetValue("limits", out limits);
            ((MessagePackMap)limits).Add("max_keys", 4L);
            return hello.Add("capabilities", new List<object>(capabilities));
        }

        /// <summary>A live `motion` chunk: frames start … start+count−1 of the stream, floats numbered as in <see cref="Motion"/>.</summary>
        public static MessagePackMap LiveMotion(string id, int start, int count)
        {
            return Motion(id, 0, false, false, start, count, start + count).Add("live", true);
        }

        public static MessagePackMap Ready()
        {
            return new MessagePackMap().Add("op", "ready").Add("protocol", 1L).Add("session", "s1");
        }

        public static MessagePackMap Accepted(string id, string job)
        {
            return new MessagePackMap().Add("op", "accepted").Add("id", id).Add("job", job).Add("queue_position", 0L);
        }

        /// <summary>A motion message whose float at index k of root is start*10+k and of rotations start*100+k.</summary>
        public static MessagePackMap Motion(string id, int sample, bool preview, bool final, int start, int count, int total)
        {
            var root = new float[count * 3];
            for (int k = 0; k < root.Length; k++)
            {
                root[k] = start * 10 + k;
            }
            var rotations = new float[count * Joints.Length * 4];
            for (int k = 0; k < rotations.Length; k++)
            {
                rotations[k] = start * 100 + k;
            }
            var map = new MessagePackMap()
                .Add("op", "motion")
                .Add("id", id)
                .Add("job", "j1")
                .Add("sample", (long)sample)
                .Add("seed", (long)(7 + sample))
                .Add("preview", preview)
                .Add("final", final)
                .Add("start", (long)start)
                .Add("count", (long)count)
                .Add("total", (long)total)
                .Add("fps", 30.0)
                .Add("target", "unity")
                .Add("joints", new List<object>(Joints))
                .Add("root", LittleEndianFloats.ToBytes(root))
                .Add("rotations", LittleEndianFloats.ToBytes(rotations));
            if (preview)
            {
                map.Add("step", 10L);
            }
            return map;
        }

        public static MessagePackMap Done(string id, int frames)
        {
            return new MessagePackMap()
                .Add("op", "done").Add("id", id).Add("job", "j1").Add("samples", 1L).Add("frames", (long)frames)
                .Add("seconds", frames / 30.0).Add("cached", false)
                .Add("timings", new MessagePackMap().Add("queue_ms", 1.5).Add("text_ms", 2L).Add("sample_ms", 30.25)
                    .Add("decode_ms", 1.0).Add("total_ms", 35.0));
        }
    }
}
