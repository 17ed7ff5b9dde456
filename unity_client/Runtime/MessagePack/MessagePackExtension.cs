// MotionBridge for Unity: an undecoded MessagePack extension value.
namespace MotionBridge.MessagePack
{
    /// <summary>An extension value (type code and payload) kept as-is; the protocol defines none.</summary>
    public sealed class MessagePackExtension
    {
        public MessagePackExtension(sbyte typeCode, byte[] data)
        {
            TypeCode = typeCode;
            Data = data;
        }

        public sbyte TypeCode { get; private set; }

        public byte[] Data { get; private set; }
    }
}
