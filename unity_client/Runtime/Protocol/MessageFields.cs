// MotionBridge for Unity: typed access to the fields of a decoded message map.
using System;
using System.Collections.Generic;
using MotionBridge.MessagePack;

namespace MotionBridge.Protocol
{
    /// <summary>
    /// Reads fields of one message with the protocol's type rules: integers are integers, numbers may be
    /// integers or floats, booleans are not numbers, `null` counts as absent. Errors name the op and field.
    /// </summary>
    public sealed class MessageFields
    {
        private readonly MessagePackMap _map;
        private readonly string _op;

        public MessageFields(MessagePackMap map, string op)
        {
            _map = map;
            _op = op;
        }

        public MessagePackMap Map
        {
            get { return _map; }
        }

        public bool Has(string name)
        {
            object value;
            return _map.TryGetValue(name, out value) && value != null;
        }

        public object Raw(string name)
        {
            object value;
            return _map.TryGetValue(name, out value) ? value : null;
        }

        public string RequireString(string name)
        {
            var value = Require(name);
            var text = value as string;
            if (text == null)
            {
                throw WrongType(name, "a string", value);
            }
            return text;
        }

        public string OptionalString(string name, string fallback)
        {
            return Has(name) ? RequireString(name) : fallback;
        }

        public long RequireInteger(string name)
        {
            var value = Require(name);
            if (value is long)
            {
                return (long)value;
            }
            throw WrongType(name, "an integer", value);
        }

        public long OptionalInteger(string name, long fallback)
        {
            return Has(name) ? RequireInteger(name) : fallback;
        }

        public int RequireInt32(string name)
        {
            long value = RequireInteger(name);
            if (value < int.MinValue || value > int.MaxValue)
            {
                throw new ProtocolException(Where(name) + " is out of range: " + value);
            }
            return (int)value;
        }

        public int OptionalInt32(string name, int fallback)
        {
            return Has(name) ? RequireInt32(name) : fallback;
        }

        /// <summary>
        /// A count sent as a number that must be whole, as an int. The daemon may send such values as floats
        /// (fps arrives as 30.0), which the protocol allows for numbers.
        /// </summary>
        public int RequireWholeNumber(string name)
        {
            double value = RequireNumber(name);
            if (value != Math.Floor(value) || value < int.MinValue || value > int.MaxValue)
            {
                throw new ProtocolException(Where(name) + " must be a whole number, got " + value);
            }
            return (int)value;
        }

        public double RequireNumber(string name)
        {
            return ToNumber(name, Require(name));
        }

        public double OptionalNumber(string name, double fallback)
        {
            return Has(name) ? RequireNumber(name) : fallback;
        }

        public bool RequireBoolean(string name)
        {
            var value = Require(name);
            if (value is bool)
            {
                return (bool)value;
            }
            throw WrongType(name, "a boolean", value);
        }

        public bool OptionalBoolean(string name, bool fallback)
        {
            return Has(name) ? RequireBoolean(name) : fallback;
        }

        public byte[] RequireBytes(string name)
        {
            var value = Require(name);
            var bytes = value as byte[];
            if (bytes == null)
            {
                throw WrongType(name, "bytes (bin)", value);
            }
            return bytes;
        }

        public MessageFields RequireMap(string name)
        {
            var value = Require(name);
            var map = value as MessagePackMap;
            if (map == null)
            {
                throw WrongType(name, "a map", value);
            }
            return new MessageFields(map, _op + "." + name);
        }

        public MessageFields OptionalMap(string name)
        {
            return Has(name) ? RequireMap(name) : null;
        }

        public List<object> RequireArray(string name)
        {
            var value = Require(name);
            var list = value as List<object>;
            if (list == null)
            {
                throw WrongType(name, "an array", value);
            }
            return list;
        }

        public string[] RequireStringArray(string name)
        {
            var list = RequireArray(name);
            var result = new string[list.Count];
            for (int i = 0; i < list.Count; i++)
            {
                result[i] = list[i] as string;
                if (result[i] == null)
                {
                    throw WrongType(name + "[" + i + "]", "a string", list[i]);
                }
            }
            return result;
        }

        public int[] RequireIntArray(string name)
        {
            var list = RequireArray(name);
            var result = new int[list.Count];
            for (int i = 0; i < list.Count; i++)
            {
                if (!(list[i] is long))
                {
                    throw WrongType(name + "[" + i + "]", "an integer", list[i]);
                }
                result[i] = (int)(long)list[i];
            }
            return result;
        }

        /// <summary>An array of fixed-size number arrays, e.g. `rest` ([[x, y, z] × J]), flattened row by row.</summary>
        public double[] RequireNumberRows(string name, int width)
        {
            var rows = RequireArray(name);
            var result = new double[rows.Count * width];
            for (int r = 0; r < rows.Count; r++)
            {
                var row = rows[r] as List<object>;
                if (row == null || row.Count != width)
                {
                    throw new ProtocolException(Where(name) + "[" + r + "] must be an array of " + width + " numbers");
                }
                for (int c = 0; c < width; c++)
                {
                    result[r * width + c] = ToNumber(name + "[" + r + "][" + c + "]", row[c]);
                }
            }
            return result;
        }

        private double ToNumber(string name, object value)
        {
            if (value is long)
            {
                return (long)value;
            }
            if (value is double)
            {
                return (double)value;
            }
            if (value is float)
            {
                return (float)value;
            }
            if (value is ulong)
            {
                return (ulong)value;
            }
            throw WrongType(name, "a number", value);
        }

        private object Require(string name)
        {
            object value;
            if (!_map.TryGetValue(name, out value) || value == null)
            {
                throw new ProtocolException(Where(name) + " is missing");
            }
            return value;
        }

        private string Where(string name)
        {
            return "'" + _op + "' field '" + name + "'";
        }

        private ProtocolException WrongType(string name, string expected, object value)
        {
            string actual = value == null ? "null" : value.GetType().Name;
            return new ProtocolException(Where(name) + " must be " + expected + ", got " + actual);
        }
    }
}
