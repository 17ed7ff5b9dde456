// MotionBridge for Unity: encodes .NET values as MessagePack.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Text;

namespace MotionBridge.MessagePack
{
    /// <summary>
    /// Encodes MessagePack with the smallest format for every integer and length, the same choices
    /// msgpack-python makes (non-negative integers as positive fixint/uint*, negative ones as negative
    /// fixint/int*, strings as str8 and up, byte arrays as bin), so a value read from Python bytes writes
    /// back to the same bytes.
    /// </summary>
    public sealed class MessagePackWriter
    {
        private static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);

        private byte[] _buffer;
        private int _length;

        public MessagePackWriter() : this(256)
        {
        }

        public MessagePackWriter(int initialCapacity)
        {
            _buffer = new byte[Math.Max(16, initialCapacity)];
        }

        public int Length
        {
            get { return _length; }
        }

        /// <summary>Encodes one value; see <see cref="WriteValue"/> for the accepted types.</summary>
        public static byte[] Serialize(object value)
        {
            var writer = new MessagePackWriter();
            writer.WriteValue(value);
            return writer.ToArray();
        }

        public byte[] ToArray()
        {
            var bytes = new byte[_length];
            Buffer.BlockCopy(_buffer, 0, bytes, 0, _length);
            return bytes;
        }

        public void WriteNil()
        {
            WriteByte(0xc0);
        }

        public void WriteBoolean(bool value)
        {
            WriteByte(value ? (byte)0xc3 : (byte)0xc2);
        }

        public void WriteInteger(long value)
        {
            if (value >= 0)
            {
                WriteInteger((ulong)value);
            }
            else if (value >= -32)
            {
                WriteByte((byte)(sbyte)value);
            }
            else if (value >= sbyte.MinValue)
            {
                WriteByte(0xd0);
                WriteByte((byte)(sbyte)value);
            }
            else if (value >= short.MinValue)
            {
                WriteByte(0xd1);
                WriteBigEndian((ulong)(ushort)(short)value, 2);
            }
            else if (value >= int.MinValue)
            {
                WriteByte(0xd2);
                WriteBigEndian((ulong)(uint)(int)value, 4);
            }
            else
            {
                WriteByte(0xd3);
                WriteBigEndian((ulong)value, 8);
            }
        }

        public void WriteInteger(ulong value)
        {
            if (value <= 0x7f)
            {
                WriteByte((byte)value);
            }
            else if (value <= byte.MaxValue)
            {
                WriteByte(0xcc);
                WriteByte((byte)value);
            }
            else if (value <= ushort.MaxValue)
            {
                WriteByte(0xcd);
                WriteBigEndian(value, 2);
            }
            else if (value <= uint.MaxValue)
            {
                WriteByte(0xce);
                WriteBigEndian(value, 4);
            }
            else
            {
                WriteByte(0xcf);
                WriteBigEndian(value, 8);
            }
        }

        public void WriteFloat32(float value)
        {
            WriteByte(0xca);
            WriteBigEndian(BitConverter.ToUInt32(BitConverter.GetBytes(value), 0), 4);
        }

        public void WriteFloat64(double value)
        {
            WriteByte(0xcb);
            WriteBigEndian((ulong)BitConverter.DoubleToInt64Bits(value), 8);
        }

        public void WriteString(string value)
        {
            if (value == null)
            {
                WriteNil();
                return;
            }
            var bytes = Utf8.GetBytes(value);
            int length = bytes.Length;
            if (length <= 31)
            {
                WriteByte((byte)(0xa0 | length));
            }
            else if (length <= byte.MaxValue)
            {
                WriteByte(0xd9);
                WriteByte((byte)length);
            }
            else if (length <= ushort.MaxValue)
            {
                WriteByte(0xda);
                WriteBigEndian((ulong)length, 2);
            }
            else
            {
                WriteByte(0xdb);
                WriteBigEndian((ulong)length, 4);
            }
            WriteRaw(bytes, 0, length);
        }

        public void WriteBinary(byte[] value)
        {
            if (value == null)
            {
                WriteNil();
                return;
            }
            WriteBinaryHeader(value.Length);
            WriteRaw(value, 0, value.Length);
        }

        public void WriteArrayHeader(int count)
        {
            CheckCount(count);
            if (count <= 15)
            {
                WriteByte((byte)(0x90 | count));
            }
            else if (count <= ushort.MaxValue)
            {
                WriteByte(0xdc);
                WriteBigEndian((ulong)count, 2);
            }
            else
            {
                WriteByte(0xdd);
                WriteBigEndian((ulong)count, 4);
            }
        }

        public void WriteMapHeader(int count)
        {
            CheckCount(count);
            if (count <= 15)
            {
                WriteByte((byte)(0x80 | count));
            }
            else if (count <= ushort.MaxValue)
            {
                WriteByte(0xde);
                WriteBigEndian((ulong)count, 2);
            }
            else
            {
                WriteByte(0xdf);
                WriteBigEndian((ulong)count, 4);
            }
        }

        public void WriteExtension(sbyte typeCode, byte[] data)
        {
            int length = data.Length;
            switch (length)
            {
                case 1:
                    WriteByte(0xd4);
                    break;
                case 2:
                    WriteByte(0xd5);
                    break;
                case 4:
                    WriteByte(0xd6);
                    break;
                case 8:
                    WriteByte(0xd7);
                    break;
                case 16:
                    WriteByte(0xd8);
                    break;
                default:
                    if (length <= byte.MaxValue)
                    {
                        WriteByte(0xc7);
                        WriteByte((byte)length);
                    }
                    else if (length <= ushort.MaxValue)
                    {
                        WriteByte(0xc8);
                        WriteBigEndian((ulong)length, 2);
                    }
                    else
                    {
                        WriteByte(0xc9);
                        WriteBigEndian((ulong)length, 4);
                    }
                    break;
            }
            WriteByte((byte)typeCode);
            WriteRaw(data, 0, length);
        }

        /// <summary>
        /// Encodes null, bool, any integer type, float, double, string, byte[], float[] (as bin of little-endian
        /// float32, the protocol's array layout), <see cref="MessagePackMap"/>, IDictionary, IList and
        /// <see cref="MessagePackExtension"/>. Anything else is an <see cref="ArgumentException"/>.
        /// </summary>
        public void WriteValue(object value)
        {
            if (value == null)
            {
                WriteNil();
                return;
            }
            if (value is bool)
            {
                WriteBoolean((bool)value);
            }
            else if (value is long)
            {
                WriteInteger((long)value);
            }
            else if (value is int)
            {
                WriteInteger((long)(int)value);
            }
            else if (value is ulong)
            {
                WriteInteger((ulong)value);
            }
            else if (value is uint)
            {
                WriteInteger((ulong)(uint)value);
            }
            else if (value is short || value is sbyte)
            {
                WriteInteger(Convert.ToInt64(value));
            }
            else if (value is ushort || value is byte)
            {
                WriteInteger(Convert.ToUInt64(value));
            }
            else if (value is float)
            {
                WriteFloat32((float)value);
            }
            else if (value is double)
            {
                WriteFloat64((double)value);
            }
            else if (value is string)
            {
                WriteString((string)value);
            }
            else if (value is byte[])
            {
                WriteBinary((byte[])value);
            }
            else if (value is float[])
            {
                WriteBinary(LittleEndianFloats.ToBytes((float[])value));
            }
            else if (value is MessagePackMap)
            {
                var map = (MessagePackMap)value;
                WriteMapHeader(map.Count);
                foreach (var entry in map.Entries)
                {
                    WriteValue(entry.Key);
                    WriteValue(entry.Value);
                }
            }
            else if (value is MessagePackExtension)
            {
                var extension = (MessagePackExtension)value;
                WriteExtension(extension.TypeCode, extension.Data);
            }
            else if (value is IDictionary)
            {
                var dictionary = (IDictionary)value;
                WriteMapHeader(dictionary.Count);
                foreach (DictionaryEntry entry in dictionary)
                {
                    WriteValue(entry.Key);
                    WriteValue(entry.Value);
                }
            }
            else if (value is IList)
            {
                var list = (IList)value;
                WriteArrayHeader(list.Count);
                foreach (var item in list)
                {
                    WriteValue(item);
                }
            }
            else
            {
                throw new ArgumentException("cannot encode a " + value.GetType().FullName + " as MessagePack");
            }
        }

        private void WriteBinaryHeader(int length)
        {
            if (length <= byte.MaxValue)
            {
                WriteByte(0xc4);
                WriteByte((byte)length);
            }
            else if (length <= ushort.MaxValue)
            {
                WriteByte(0xc5);
                WriteBigEndian((ulong)length, 2);
            }
            else
            {
                WriteByte(0xc6);
                WriteBigEndian((ulong)length, 4);
            }
        }

        private static void CheckCount(int count)
        {
            if (count < 0)
            {
                throw new ArgumentOutOfRangeException("count", "a count cannot be negative");
            }
        }

        private void WriteByte(byte value)
        {
            Ensure(1);
            _buffer[_length++] = value;
        }

        private void WriteBigEndian(ulong value, int size)
        {
            Ensure(size);
            for (int i = size - 1; i >= 0; i--)
            {
                _buffer[_length + i] = (byte)value;
                value >>= 8;
            }
            _length += size;
        }

        private void WriteRaw(byte[] bytes, int offset, int count)
        {
            Ensure(count);
            Buffer.BlockCopy(bytes, offset, _buffer, _length, count);
            _length += count;
        }

        private void Ensure(int extra)
        {
            if (_length + extra <= _buffer.Length)
            {
                return;
            }
            int capacity = _buffer.Length;
            while (capacity < _length + extra)
            {
                capacity *= 2;
            }
            Array.Resize(ref _buffer, capacity);
        }
    }
}
