// MotionBridge for Unity: the protocol's packed float32 arrays.
using System;

namespace MotionBridge.MessagePack
{
    /// <summary>
    /// The protocol ships `root` and `rotations` as little-endian float32 bytes. These helpers copy them
    /// bit for bit (no rounding, NaN payloads kept) on little- and big-endian machines alike.
    /// </summary>
    public static class LittleEndianFloats
    {
        public static float[] FromBytes(byte[] bytes)
        {
            if (bytes == null)
            {
                throw new ArgumentNullException("bytes");
            }
            if (bytes.Length % 4 != 0)
            {
                throw new ArgumentException("float32 data must be a multiple of 4 bytes, got " + bytes.Length);
            }
            var values = new float[bytes.Length / 4];
            if (BitConverter.IsLittleEndian)
            {
                Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
                return values;
            }
            var word = new byte[4];
            for (int i = 0; i < values.Length; i++)
            {
                word[0] = bytes[4 * i + 3];
                word[1] = bytes[4 * i + 2];
                word[2] = bytes[4 * i + 1];
                word[3] = bytes[4 * i];
                values[i] = BitConverter.ToSingle(word, 0);
            }
            return values;
        }

        public static byte[] ToBytes(float[] values)
        {
            if (values == null)
            {
                throw new ArgumentNullException("values");
            }
            var bytes = new byte[values.Length * 4];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            if (!BitConverter.IsLittleEndian)
            {
                for (int i = 0; i < bytes.Length; i += 4)
                {
                    Array.Reverse(bytes, i, 4);
                }
            }
            return bytes;
        }
    }
}
