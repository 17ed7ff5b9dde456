// MotionBridge tests: the MessagePack reader and writer against bytes written out from the specification.
using System;
using System.Collections.Generic;
using MotionBridge.MessagePack;
using NUnit.Framework;

namespace MotionBridge.Tests
{
    [TestFixture]
    public class MessagePackTests
    {
        private static byte[] Bytes(params int[] values)
        {
            var bytes = new byte[values.Length];
            for (int i = 0; i < values.Length; i++)
            {
                bytes[i] = (byte)values[i];
            }
            return bytes;
        }

        [TestCase(0L, new byte[] { 0x00 })]
        [TestCase(127L, new byte[] { 0x7f })]
        [TestCase(128L, new byte[] { 0xcc, 0x80 })]
        [TestCase(256L, new byte[] { 0xcd, 0x01, 0x00 })]
        [TestCase(65536L, new byte[] { 0xce, 0x00, 0x01, 0x00, 0x00 })]
        [TestCase(4294967296L, new byte[] { 0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 })]
        [TestCase(-1L, new byte[] { 0xff })]
        [TestCase(-32L, new byte[] { 0xe0 })]
        [TestCase(-33L, new byte[] { 0xd0, 0xdf })]
        [TestCase(-129L, new byte[] { 0xd1, 0xff, 0x7f })]
        [TestCase(-32769L, new byte[] { 0xd2, 0xff, 0xff, 0x7f, 0xff })]
        [TestCase(long.MinValue, new byte[] { 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0 })]
        public void Integers_use_the_smallest_format_and_read_back(long value, byte[] expected)
        {
            CollectionAssert.AreEqual(expected, MessagePackWriter.Serialize(value));
            Assert.AreEqual(value, MessagePackReader.Deserialize(expected));
        }

        [Test]
        public void Uint64_above_long_range_reads_as_ulong()
        {
            var bytes = Bytes(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe);
            Assert.AreEqual(18446744073709551614UL, MessagePackReader.Deserialize(bytes));
            CollectionAssert.AreEqual(bytes, MessagePackWriter.Serialize(18446744073709551614UL));
        }

        [Test]
        public void Floats_keep_their_width_and_bits()
        {
            var f32 = Bytes(0xca, 0x3f, 0xc0, 0x00, 0x00);
            var f64 = Bytes(0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0);
            Assert.AreEqual(1.5f, MessagePackReader.Deserialize(f32));
            Assert.IsInstanceOf<float>(MessagePackReader.Deserialize(f32));
            Assert.AreEqual(1.5, MessagePackReader.Deserialize(f64));
            Assert.IsInstanceOf<double>(MessagePackReader.Deserialize(f64));
            CollectionAssert.AreEqual(f32, MessagePackWriter.Serialize(1.5f));
            CollectionAssert.AreEqual(f64, MessagePackWriter.Serialize(1.5));
        }

        [Test]
        public void Nil_and_booleans()
        {
            Assert.IsNull(MessagePackReader.Deserialize(Bytes(0xc0)));
            Assert.AreEqual(true, MessagePackReader.Deserialize(Bytes(0xc3)));
            Assert.AreEqual(false, MessagePackReader.Deserialize(Bytes(0xc2)));
            CollectionAssert.AreEqual(Bytes(0xc3), MessagePackWriter.Serialize(true));
        }

        [Test]
        public void Strings_are_utf8_with_length_prefixes()
        {
            CollectionAssert.AreEqual(Bytes(0xa2, 0x6f, 0x70), MessagePackWriter.Serialize("op"));
            var accented = MessagePackWriter.Serialize("é");
            CollectionAssert.AreEqual(Bytes(0xa2, 0xc3, 0xa9), accented);
            Assert.AreEqual("é", MessagePackReader.Deserialize(accented));
            var text = new string('x', 40);
            var str8 = MessagePackWriter.Serialize(text);
            Assert.AreEqual(0xd9, str8[0]);
            Assert.AreEqual(40, str8[1]);
            Assert.AreEqual(text, MessagePackReader.Deserialize(str8));
            var long16 = new string('y', 300);
            var str16 = MessagePackWriter.Serialize(long16);
            CollectionAssert.AreEqual(Bytes(0xda, 0x01, 0x2c), new[] { str16[0], str16[1], str16[2] });
            Assert.AreEqual(long16, MessagePackReader.Deserialize(str16));
        }

        [Test]
        public void Invalid_utf8_is_refused()
        {
            var error = Assert.Throws<MessagePackException>(() => MessagePackReader.Deserialize(Bytes(0xa1, 0xff)));
            StringAssert.Contains("UTF-8", error.Message);
        }

        [Test]
        public void Binary_round_trips_with_bin8_and_bin16()
        {
            var small = new byte[] { 1, 2, 3 };
            CollectionAssert.AreEqual(Bytes(0xc4, 3, 1, 2, 3), MessagePackWriter.Serialize(small));
            var big = new byte[1000];
            big[999] = 9;
            var encoded = MessagePackWriter.Serialize(big);
            CollectionAssert.AreEqual(Bytes(0xc5, 0x03, 0xe8), new[] { encoded[0], encoded[1], encoded[2] });
            CollectionAssert.AreEqual(big, (byte[])MessagePackReader.Deserialize(encoded));
        }

        [Test]
        public void Maps_keep_key_order_and_arrays_nest()
        {
            var map = new MessagePackMap().Add("b", 1L).Add("a", new List<object> { 1L, "x", null });
            var bytes = MessagePackWriter.Serialize(map);
            CollectionAssert.AreEqual(
                Bytes(0x82, 0xa1, 0x62, 0x01, 0xa1, 0x61, 0x93, 0x01, 0xa1, 0x78, 0xc0), bytes);
            var back = (MessagePackMap)MessagePackReader.Deserialize(bytes);
            Assert.AreEqual("b", back.Entries[0].Key);
            object list;
            Assert.IsTrue(back.TryGetValue("a", out list));
            Assert.AreEqual(3, ((List<object>)list).Count);
        }

        [Test]
        public void Sixteen_entries_switch_to_map16_and_array16()
        {
            var map = new MessagePackMap();
            var list = new List<object>();
            for (int i = 0; i < 16; i++)
            {
                map.Add("k" + i, (long)i);
                list.Add((long)i);
            }
            Assert.AreEqual(0xde, MessagePackWriter.Serialize(map)[0]);
            Assert.AreEqual(0xdc, MessagePackWriter.Serialize(list)[0]);
            Assert.AreEqual(16, ((MessagePackMap)MessagePackReader.Deserialize(MessagePackWriter.Serialize(map))).Count);
        }

        [Test]
        public void Extensions_are_kept_raw()
        {
            var bytes = Bytes(0xd6, 0xff, 0, 0, 0, 1);
            var extension = (MessagePackExtension)MessagePackReader.Deserialize(bytes);
            Assert.AreEqual(-1, extension.TypeCode);
            CollectionAssert.AreEqual(new byte[] { 0, 0, 0, 1 }, extension.Data);
            CollectionAssert.AreEqual(bytes, MessagePackWriter.Serialize(extension));
        }

        [Test]
        public void Truncated_data_is_a_typed_error_with_offset()
        {
            var error = Assert.Throws<MessagePackException>(() => MessagePackReader.Deserialize(Bytes(0xcd, 0x01)));
            StringAssert.Contains("truncated", error.Message);
        }

        [Test]
        public void A_huge_length_prefix_is_refused_before_allocating()
        {
            var error = Assert.Throws<MessagePackException>(
                () => MessagePackReader.Deserialize(Bytes(0xdd, 0x7f, 0xff, 0xff, 0xff)));
            StringAssert.Contains("truncated", error.Message);
            Assert.Throws<MessagePackException>(() => MessagePackReader.Deserialize(Bytes(0xc6, 0xff, 0xff, 0xff, 0xff)));
        }

        [Test]
        public void Trailing_bytes_and_reserved_type_byte_are_errors()
        {
            Assert.Throws<MessagePackException>(() => MessagePackReader.Deserialize(Bytes(0x01, 0x02)));
            var error = Assert.Throws<MessagePackException>(() => MessagePackReader.Deserialize(Bytes(0xc1)));
            StringAssert.Contains("0xc1", error.Message);
        }

        [Test]
        public void Deep_nesting_is_refused()
        {
            var bytes = new byte[200];
            for (int i = 0; i < bytes.Length - 1; i++)
            {
                bytes[i] = 0x91;
            }
            bytes[bytes.Length - 1] = 0xc0;
            var error = Assert.Throws<MessagePackException>(() => MessagePackReader.Deserialize(bytes));
            StringAssert.Contains("nesting", error.Message);
        }

        [Test]
        public void Float_arrays_are_little_endian_float32_bit_for_bit()
        {
            var values = new[] { 1.0f, -0.5f, float.Epsilon, float.NaN };
            var bytes = LittleEndianFloats.ToBytes(values);
            CollectionAssert.AreEqual(Bytes(0x00, 0x00, 0x80, 0x3f), new[] { bytes[0], bytes[1], bytes[2], bytes[3] });
            var back = LittleEndianFloats.FromBytes(bytes);
            for (int i = 0; i < values.Length; i++)
            {
                Assert.AreEqual(BitConverter.ToInt32(BitConverter.GetBytes(values[i]), 0),
                    BitConverter.ToInt32(BitConverter.GetBytes(back[i]), 0));
            }
            Assert.Throws<ArgumentException>(() => LittleEndianFloats.FromBytes(new byte[5]));
        }

        [Test]
        public void Unsupported_types_are_refused_by_the_writer()
        {
            Assert.Throws<ArgumentException>(() => MessagePackWriter.Serialize(new object()));
        }
    }
}
