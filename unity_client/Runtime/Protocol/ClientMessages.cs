// MotionBridge for Unity: the messages a client sends (docs/protocol.md §2 and §3).
using System;
using MotionBridge.MessagePack;

namespace MotionBridge.Protocol
{
    /// <summary>The settings of one `generate` request; defaults are the protocol's, except target "unity".</summary>
    public sealed class GenerateRequest
    {
        public string Prompt = "";
        public double Seconds = 5.0;
        public long Seed;
        public int Samples = 1;

        /// <summary>Sampler steps; null = the model's default_steps.</summary>
        public int? Steps;

        /// <summary>Classifier-free guidance scale; null = the model's default_cfg.</summary>
        public double? Cfg;

        public string Target = ProtocolConstants.UnityTarget;
        public int PreviewEvery;
        public int ChunkFrames;
        public bool Loop;
        public bool InPlace;

        /// <summary>
        /// Checks the request against the protocol rules and, when known, the daemon's limits, so the user sees
        /// the problem before anything is sent. Returns null when valid, else a message that says what to change.
        /// </summary>
        public string Validate(ServerLimits limits)
        {
            if (Prompt == null || Prompt.Trim().Length == 0)
            {
                return "type a prompt first";
            }
            if (double.IsNaN(Seconds) || double.IsInfinity(Seconds) || Seconds <= 0)
            {
                return "seconds must be a positive number";
            }
            if (Seed < 0 || Seed >= (1L << 31))
            {
                return "seed must be between 0 and 2147483647";
            }
            if (Samples < 1)
            {
                return "samples must be at least 1";
            }
            if (Steps.HasValue && Steps.Value < 1)
            {
                return "steps must be at least 1";
            }
            if (Cfg.HasValue && (double.IsNaN(Cfg.Value) || Cfg.Value < 0 || Cfg.Value > 20))
            {
                return "cfg must be between 0 and 20";
            }
            if (PreviewEvery < 0 || ChunkFrames < 0)
            {
                return "preview_every and chunk_frames cannot be negative";
            }
            if (limits == null)
            {
                return null;
            }
            if (Prompt.Length > limits.MaxPromptChars)
            {
                return "the prompt is longer than the daemon's limit of " + limits.MaxPromptChars + " characters";
            }
            if (Seconds > limits.MaxSeconds)
            {
                return "seconds must be at most " + limits.MaxSeconds + " for this model";
            }
            if (Samples > limits.MaxSamples)
            {
                return "samples must be at most " + limits.MaxSamples;
            }
            if (Steps.HasValue && Steps.Value > limits.MaxSteps)
            {
                return "steps must be at most " + limits.MaxSteps;
            }
            return null;
        }

        public MessagePackMap ToMap(string id)
        {
            var map = new MessagePackMap()
                .Add("op", "generate")
                .Add("id", id)
                .Add("prompt", Prompt)
                .Add("seconds", Seconds)
                .Add("seed", Seed)
                .Add("samples", (long)Samples)
                .Add("target", Target)
                .Add("preview_every", (long)PreviewEvery)
                .Add("chunk_frames", (long)ChunkFrames)
                .Add("loop", Loop)
                .Add("in_place", InPlace);
            if (Steps.HasValue)
            {
                map.Add("steps", (long)Steps.Value);
            }
            if (Cfg.HasValue)
            {
                map.Add("cfg", Cfg.Value);
            }
            return map;
        }

        public GenerateRequest Clone()
        {
            return (GenerateRequest)MemberwiseClone();
        }
    }

    /// <summary>Builders for the small client messages.</summary>
    public static class ClientMessages
    {
        public static MessagePackMap Identify(string client, string token)
        {
            var map = new MessagePackMap()
                .Add("op", "identify")
                .Add("protocol", (long)ProtocolConstants.Version)
                .Add("client", client);
            if (!string.IsNullOrEmpty(token))
            {
                map.Add("token", token);
            }
            return map;
        }

        public static MessagePackMap Cancel(string id)
        {
            return new MessagePackMap().Add("op", "cancel").Add("id", id);
        }

        public static MessagePackMap Status(string id)
        {
            return new MessagePackMap().Add("op", "status").Add("id", id);
        }

        public static MessagePackMap Fetch(string id, string job, string target)
        {
            var map = new MessagePackMap().Add("op", "fetch").Add("id", id).Add("job", job);
            if (target != null)
            {
                map.Add("target", target);
            }
            return map;
        }
    }
}
