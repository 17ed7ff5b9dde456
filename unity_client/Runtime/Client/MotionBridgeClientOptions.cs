// MotionBridge for Unity: settings of a daemon connection.
using System;
using MotionBridge.Protocol;

namespace MotionBridge.Client
{
    public sealed class MotionBridgeClientOptions
    {
        public Uri Url = new Uri(ProtocolConstants.DefaultUrl);

        /// <summary>Sent in `identify` when the daemon asks for one (`auth: "token"`); empty = none.</summary>
        public string Token = "";

        /// <summary>Free text the daemon logs; keep it "name/version".</summary>
        public string ClientName = "motionbridge-unity/0.1.0";

        public ReconnectPolicy Reconnect = new ReconnectPolicy();

        /// <summary>Reconnect by itself after a drop (not after a refusal such as a wrong token).</summary>
        public bool AutoReconnect = true;

        /// <summary>Time allowed from opening the socket to `ready`.</summary>
        public TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

        /// <summary>Largest server message accepted; a bigger one drops the connection instead of eating memory.</summary>
        public int MaxMessageBytes = 64 * 1024 * 1024;

        /// <summary>Prefix of request ids; unique per client instance so logs tell editors and reloads apart.</summary>
        public string RequestIdPrefix;

        /// <summary>Seed of the backoff jitter (tests pin it; null = time-based).</summary>
        public int? JitterSeed;
    }
}
