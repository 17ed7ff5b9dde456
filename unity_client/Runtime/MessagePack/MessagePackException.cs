// MotionBridge for Unity: errors raised while reading or writing MessagePack.
using System;

namespace MotionBridge.MessagePack
{
    /// <summary>Malformed, truncated or unsupported MessagePack data; says where in the buffer it went wrong.</summary>
    public sealed class MessagePackException : Exception
    {
        public MessagePackException(string message) : base(message)
        {
        }
    }
}
