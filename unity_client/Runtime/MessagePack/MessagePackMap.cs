// MotionBridge for Unity: a decoded MessagePack map that keeps its key order.
using System.Collections.Generic;

namespace MotionBridge.MessagePack
{
    /// <summary>
    /// A MessagePack map. Entries keep the order they were read or added in, so a decoded message re-encodes
    /// to the same bytes; string keys are also indexed for O(1) lookup (protocol messages only use string keys).
    /// </summary>
    public sealed class MessagePackMap
    {
        private readonly List<KeyValuePair<object, object>> _entries = new List<KeyValuePair<object, object>>();
        private readonly Dictionary<string, object> _byName = new Dictionary<string, object>();

        public int Count
        {
            get { return _entries.Count; }
        }

        public IList<KeyValuePair<object, object>> Entries
        {
            get { return _entries.AsReadOnly(); }
        }

        /// <summary>Adds an entry; a repeated string key replaces the looked-up value (last one wins, like msgpack-python).</summary>
        public MessagePackMap Add(object key, object value)
        {
            _entries.Add(new KeyValuePair<object, object>(key, value));
            var name = key as string;
            if (name != null)
            {
                _byName[name] = value;
            }
            return this;
        }

        public bool ContainsKey(string key)
        {
            return _byName.ContainsKey(key);
        }

        public bool TryGetValue(string key, out object value)
        {
            return _byName.TryGetValue(key, out value);
        }
    }
}
