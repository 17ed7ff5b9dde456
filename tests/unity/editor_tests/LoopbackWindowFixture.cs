// MotionBridge editor tests: the window connected to a scripted loopback daemon, set up and torn down per test.
using System;
using MotionBridge.Editor;
using MotionBridge.Tests;
using NUnit.Framework;

namespace MotionBridge.EditorTests
{
    /// <summary>
    /// Each test starts from a loaded domain and a new window state. Afterwards the window disconnects before its
    /// daemon is disposed, so its client never starts reconnecting to a daemon that is going away.
    /// </summary>
    public abstract class LoopbackWindowFixture
    {
        private LoopbackWebSocketServer _server;

        [SetUp]
        public void Load()
        {
            EditorFixtures.LoadDomain();
            EditorFixtures.ResetState();
        }

        [TearDown]
        public void Reset()
        {
            EditorFixtures.ResetState();
            if (_server != null)
            {
                _server.Dispose();
                _server = null;
            }
        }

        /// <summary>Serves <paramref name="daemon"/> and points the window's connection at it, without waiting.</summary>
        protected void ConnectTo(Action<LoopbackConnection> daemon)
        {
            _server = new LoopbackWebSocketServer(daemon);
            MotionBridgeState.instance.ServerUrl = _server.Url.ToString();
            MotionBridgeConnection.Connect();
        }
    }
}
