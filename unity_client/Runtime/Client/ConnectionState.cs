// MotionBridge for Unity: where a client's connection stands, and the events it reports.
using MotionBridge.Protocol;

namespace MotionBridge.Client
{
    public enum ConnectionState
    {
        /// <summary>Not started, or stopped by the user.</summary>
        Disconnected,

        /// <summary>Opening the socket and doing the hello / identify / ready handshake.</summary>
        Connecting,

        /// <summary>Handshake done: requests are accepted.</summary>
        Ready,

        /// <summary>The connection dropped; waiting for the next attempt (see <see cref="MotionBridgeClient.NextAttemptUtc"/>).</summary>
        Reconnecting,

        /// <summary>The daemon refused us for a reason retrying cannot fix (token, protocol version); user action needed.</summary>
        Failed,
    }

    /// <summary>
    /// What the client reports to its owner, in order: either a server message (or a locally made `error`
    /// such as connection_lost), or a change of connection state with a human-readable reason.
    /// </summary>
    public sealed class ClientEvent
    {
        private ClientEvent()
        {
        }

        public ServerMessage Message { get; private set; }

        public bool IsStateChange { get; private set; }

        public ConnectionState State { get; private set; }

        public string Reason { get; private set; }

        /// <summary>WebSocket close code behind a state change, 0 if none.</summary>
        public int CloseCode { get; private set; }

        public static ClientEvent ForMessage(ServerMessage message)
        {
            return new ClientEvent { Message = message };
        }

        public static ClientEvent ForState(ConnectionState state, string reason, int closeCode)
        {
            return new ClientEvent { IsStateChange = true, State = state, Reason = reason, CloseCode = closeCode };
        }
    }
}
