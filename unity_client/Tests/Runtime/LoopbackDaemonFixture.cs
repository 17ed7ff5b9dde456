// MotionBridge tests: what every test of the real client against a scripted loopback daemon starts from.
using System;
using System.Collections.Generic;
using System.Threading;
using MotionBridge.Client;
using MotionBridge.MessagePack;
using NUnit.Framework;

namespace MotionBridge.Tests
{
    /// <summary>
    /// Serves scripted daemons, connects real clients to them with a fast, deterministic reconnect policy,
    /// and disposes both after each test, newest first, so a client never outlives the server it talks to.
    /// </summary>
    public abstract class LoopbackDaemonFixture
    {
        protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

        private readonly List<IDisposable> _cleanup = new List<IDisposable>();

        [TearDown]
        public void CloseEverything()
        {
            for (int i = _cleanup.Count - 1; i >= 0; i--)
            {
                _cleanup[i].Dispose();
            }
            _cleanup.Clear();
        }

        protected T DisposeAfterTest<T>(T disposable) where T : IDisposable
        {
            _cleanup.Add(disposable);
            return disposable;
        }

        protected LoopbackWebSocketServer Serve(Action<LoopbackConnection> script)
        {
            return DisposeAfterTest(new LoopbackWebSocketServer(script));
        }

        /// <summary>Starts a client on <paramref name="url"/> without waiting for it to connect.</summary>
        protected MotionBridgeClient Connect(Uri url, string token)
        {
            var client = DisposeAfterTest(new MotionBridgeClient(new MotionBridgeClientOptions
            {
                Url = url,
                Token = token,
                ClientName = "nunit/1",
                Reconnect = new ReconnectPolicy { Initial = TimeSpan.FromMilliseconds(20), Max = TimeSpan.FromMilliseconds(80), Jitter = 0 },
                HandshakeTimeout = TimeSpan.FromSeconds(5),
                JitterSeed = 1,
            }));
            client.Start();
            return client;
        }

        protected static void WaitUntil(Func<bool> condition, string what)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (!condition())
            {
                if (DateTime.UtcNow > deadline)
                {
                    Assert.Fail("timed out waiting for " + what);
                }
                Thread.Sleep(2);
            }
        }

        /// <summary>The string at <paramref name="key"/> in a message the client sent, or null.</summary>
        protected static string Text(MessagePackMap map, string key)
        {
            object value;
            map.TryGetValue(key, out value);
            return value as string;
        }
    }
}
