// MotionBridge for Unity: decodes MessagePack bytes into plain .NET values.
using System;
using System.Collections.Generic;
using System.Text;

namespace MotionBridge.MessagePack
{
    /// <summary>
    /// Decodes one MessagePack value into: null, bool, long (every integer that fits), ulong (only above
    /// long.MaxValue), float (float32), double (float64), string (str, UTF-8), byte[] (bin),
    /// List&lt;object&gt; (array), <see cref="MessagePackMap"/> (map) or <see cref="MessagePackExtension"/> (ext).
    /// Lengths are checked against the bytes left before anything is allocated, so a hostile length prefix
    /// cannot make the editor allocate gigabytes.
    /// </summary>
    public sealed class MessagePackReader
    {
        /// <summary>Nesting deeper than this is refused; protocol messages nest three levels at most.</summary>
        public const int MaxDepth = 64;

        private static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        private readonly byte[] _data;
        private readonly int _end;
        private int _position;

        public MessagePackReader(byte[] data) : this(data, 0, data == null ? 0 : data.Length)
        {
        }

        public MessagePackReader(byte[] data, int offset, int count)
        {
            if (data == null)
            {
                throw new ArgumentNullException("data");
            }
            if (offset < 0 || count < 0 || offset + count > data.Length)
            {
                throw new ArgumentOutOfRangeException("count", "offset and count must lie inside data");
            }
            _data = data;
            _position = offset;
            _end = offset + count;
        }

        public int Position
        {
            get { return _position; }
        }

        public bool AtEnd
        {
            get { return _position >= _end; }
        }

        /// <summary>Decodes a buffer that holds exactly one value; trailing bytes are an error.</summary>
        public static object Deserialize(byte[] data)
        {
            var reader = new MessagePackReader(data);
            var value = reader.ReadValue();
            if (!reader.AtEnd)
            {
                throw new MessagePackException(
                    "trailing bytes after the value: " + (reader._end - reader._position) + " byte(s) at offset " + reader._position);
            }
            return value;
        }

        public object ReadValue()
        {
            return ReadValue(0);
        }

        private object ReadValue(int depth)
        {
            if (depth > MaxDepth)
            {
                throw new MessagePackException("nesting deeper than " + MaxDepth + " levels at offset " + _position);
            }
            int start = _position;
            byte code = ReadByte();
            if (code <= 0x7f)
            {
                return (long)code;
            }
            if (code >= 0xe0)
            {
                return (long)(sbyte)code;
            }
            if (code >= 0x80 && code <= 0x8f)
            {
                return ReadMap(code & 0x0f, depth);
            }
            if (code >= 0x90 && code <= 0x9f)
            {
                return ReadArray(code & 0x0f, depth);
            }
            if (code >= 0xa0 && code <= 0xbf)
            {
                return ReadString(code & 0x1f);
            }
            switch (code)
            {
                case 0xc0:
                    return null;
                case 0xc2:
                    return false;
                case 0xc3:
                    return true;
                case 0xc4:
                    return ReadBytes(ReadByte());
                case 0xc5:
                    return ReadBytes(ReadUInt16());
                case 0xc6:
                    return ReadBytes(ReadLength32());
                case 0xc7:
                    return ReadExtension(ReadByte());
                case 0xc8:
                    return ReadExtension(ReadUInt16());
                case 0xc9:
                    return ReadExtension(ReadLength32());
                case 0xca:
                    return ReadFloat32();
                case 0xcb:
                    return ReadFloat64();
                case 0xcc:
                    return (long)ReadByte();
                case 0xcd:
                    return (long)ReadUInt16();
                case 0xce:
                    return (long)ReadUInt32();
                case 0xcf:
                    return NarrowUnsigned(ReadUInt64());
                case 0xd0:
                    return (long)(sbyte)ReadByte();
                case 0xd1:
                    return (long)(short)ReadUInt16();
                case 0xd2:
                    return (long)(int)ReadUInt32();
                case 0xd3:
                    return (long)ReadUInt64();
                case 0xd4:
                    return ReadExtension(1);
                case 0xd5:
                    return ReadExtension(2);
                case 0xd6:
                    return ReadExtension(4);
                case 0xd7:
                    return ReadExtension(8);
                case 0xd8:
                    return ReadExtension(16);
                case 0xd9:
                    return ReadString(ReadByte());
                case 0xda:
                    return ReadString(ReadUInt16());
                case 0xdb:
                    return ReadString(ReadLength32());
                case 0xdc:
                    return ReadArray(ReadUInt16(), depth);
                case 0xdd:
                    return ReadArray(ReadLength32(), depth);
                case 0xde:
                    return ReadMap(ReadUInt16(), depth);
                case 0xdf:
                    return ReadMap(ReadLength32(), depth);
                default:
                    throw new MessagePackException("invalid type byte 0x" + code.ToString("x2") + " at offset " + start);
            }
        }

        private static object NarrowUnsigned(ulong value)
        {
            if (value <= long.MaxValue)
            {
                return (long)value;
            }
            return value;
        }

        private List<object> ReadArray(int count, int depth)
        {
            // Every element takes at least one byte: a larger count is a lie, refuse it before allocating.
            Require(count);
            var items = new List<object>(count);
            for (int i = 0; i < count; i++)
            {
                items.Add(ReadValue(depth + 1));
            }
            return items;
        }

        private MessagePackMap ReadMap(int count, int depth)
        {
            Require(2L * count);
            var map = new MessagePackMap();
            for (int i = 0; i < count; i++)
            {
                var key = ReadValue(depth + 1);
                var value = ReadValue(depth + 1);
                map.Add(key, value);
            }
            return map;
        }

        private string ReadString(int length)
        {
            int start = _position;
            Require(length);
            try
            {
                var text = StrictUtf8.GetString(_data, _position, length);
                _position += length;
                return text;
            }
            catch (ArgumentException)
            {
                throw new MessagePackException("string at offset " + start + " is not valid UTF-8");
            }
        }

        private byte[] ReadBytes(int length)
        {
            Require(length);
            var bytes = new byte[length];
            Buffer.BlockCopy(_data, _position, bytes, 0, length);
            _position += length;
            return bytes;
        }

        private MessagePackExtension ReadExtension(int length)
        {
            var typeCode = (sbyte)ReadByte();
            return new MessagePackExtension(typeCode, ReadBytes(length));
        }

        private float ReadFloat32()
        {
            uint bits = ReadUInt32();
            return BitConverter.ToSingle(BitConverter.GetBytes(bits), 0);
        }

        private double ReadFloat64()
        {
            return BitConverter.Int64BitsToDouble((long)ReadUInt64());
        }

        private void Require(long count)
        {
            if (count > _end - _position)
            {
                throw new MessagePackException(
                    "truncated data: need " + count + " byte(s) at offset " + _position + ", have " + (_end - _position));
            }
        }

        private byte ReadByte()
        {
            Require(1);
            return _data[_position++];
        }

        private ushort ReadUInt16()
        {
            Require(2);
            int value = (_data[_position] << 8) | _data[_position + 1];
            _position += 2;
            return (ushort)value;
        }

        private uint ReadUInt32()
        {
            Require(4);
            uint value = ((uint)_data[_position] << 24) | ((uint)_data[_position + 1] << 16)
                | ((uint)_data[_position + 2] << 8) | _data[_position + 3];
            _position += 4;
            return value;
        }

        private int ReadLength32()
        {
            uint length = ReadUInt32();
            if (length > int.MaxValue)
            {
                throw new MessagePackException("length " + length + " at offset " + (_position - 4) + " exceeds 2 GiB");
            }
            return (int)length;
        }

        private ulong ReadUInt64()
        {
            ulong high = ReadUInt32();
            ulong low = ReadUInt32();
            return (high << 32) | low;
        }
    }
}
