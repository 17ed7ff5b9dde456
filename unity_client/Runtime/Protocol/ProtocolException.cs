// MotionBridge for Unity: a server message that breaks docs/protocol.md.
using System;

namespace MotionBridge.Protocol
{
    /// <summary>A message that is not valid under protocol version 1 (missing field, wrong type, bad sizes).</summary>
    public sealed class ProtocolException : Exception
    {
        public ProtocolException(string message) : base(message)
        {
        }
    }
}
