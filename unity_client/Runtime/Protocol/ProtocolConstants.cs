// MotionBridge for Unity: the fixed names and numbers of protocol version 1 (docs/protocol.md).
namespace MotionBridge.Protocol
{
    /// <summary>Protocol constants, named as in docs/protocol.md.</summary>
    public static class ProtocolConstants
    {
        public const int Version = 1;
        public const string Subprotocol = "motionbridge.v1.msgpack";
        public const string DefaultUrl = "ws://127.0.0.1:8747/v1";

        /// <summary>The wire target whose conventions match Unity: left-handed, Y up, metres, HumanBodyBones names.</summary>
        public const string UnityTarget = "unity";

        /// <summary>Longest request id the daemon accepts.</summary>
        public const int MaxRequestIdLength = 128;
    }

    /// <summary>The optional protocol v1.1 parts a daemon lists in `hello.capabilities`.</summary>
    public static class Capabilities
    {
        /// <summary>`generate`'s `start`, `keys`, `path` and `end`.</summary>
        public const string Constraints = "constraints";

        /// <summary>`generate`'s `segments`, and `done.segments`.</summary>
        public const string Timeline = "timeline";

        /// <summary>`live_start`, `live_prompt`, `live_stop` and live `motion`.</summary>
        public const string Live = "live";
    }

    /// <summary>WebSocket close codes of §6.</summary>
    public static class CloseCodes
    {
        public const int Normal = 1000;
        public const int GoingAway = 1001;
        public const int Unauthorized = 4001;
        public const int WrongSubprotocol = 4002;
        public const int NotIdentified = 4003;
        public const int UnsupportedProtocol = 4006;
        public const int TooLarge = 4008;

        /// <summary>Close codes after which reconnecting cannot help until the user changes something.</summary>
        public static bool IsFatal(int code)
        {
            return code == Unauthorized || code == WrongSubprotocol || code == NotIdentified
                || code == UnsupportedProtocol;
        }

        public static string Describe(int code)
        {
            switch (code)
            {
                case Normal:
                    return "closed normally";
                case GoingAway:
                    return "server shutting down";
                case Unauthorized:
                    return "unauthorized: the token is missing or wrong, fix it in the MotionBridge window";
                case WrongSubprotocol:
                    return "wrong subprotocol or frame kind";
                case NotIdentified:
                    return "not identified: identify was not sent in time";
                case UnsupportedProtocol:
                    return "the daemon does not speak protocol 1: update the package or the daemon";
                case TooLarge:
                    return "message too large or rate limit exceeded";
                default:
                    return "closed with code " + code;
            }
        }
    }

    /// <summary>The `code` values of `error` messages (§4.5).</summary>
    public static class ErrorCodes
    {
        public const string BadRequest = "bad_request";
        public const string TooLong = "too_long";
        public const string Busy = "busy";
        public const string Cancelled = "cancelled";
        public const string NotFound = "not_found";
        public const string ModelError = "model_error";
        public const string Internal = "internal";
    }
}
