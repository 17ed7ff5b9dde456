// Stand-ins for the UnityEngine API the MotionBridge editor code uses, so mcs can type-check unity_client/Editor
// and Samples~ without a Unity install. Signatures follow Unity 2021.3's public API. Bodies are placeholders except
// where tests/unity/editor_tests and editor_probe run the editor code: a scene graph (GameObject, Transform,
// components), curves that keep their keys, IMGUI's Layout/Repaint control bookkeeping, and a Mecanim stand-in
// that is not Mecanim (see HumanPoseHandler). Debug writes to stderr so the probes show the editor code's warnings.
using System;
using System.Collections.Generic;

namespace UnityEngine
{
    public enum HideFlags
    {
        None = 0,
        HideInHierarchy = 1,
        HideInInspector = 2,
        DontSaveInEditor = 4,
        NotEditable = 8,
        DontSaveInBuild = 16,
        DontUnloadUnusedAsset = 32,
        DontSave = 52,
        HideAndDontSave = 61,
    }

    public class Object
    {
        internal bool destroyed;

        public string name { get; set; }
        public HideFlags hideFlags { get; set; }

        public static void DestroyImmediate(Object obj)
        {
            if (ReferenceEquals(obj, null))
            {
                return;
            }
            obj.destroyed = true;
            var gameObject = obj as GameObject;
            if (gameObject != null)
            {
                foreach (var child in gameObject.transform.children.ToArray())
                {
                    DestroyImmediate(child.gameObject);
                }
                foreach (var component in gameObject.components)
                {
                    component.destroyed = true;
                }
            }
        }

        private static bool IsAlive(Object o) { return !ReferenceEquals(o, null) && !o.destroyed; }

        // Unity's "fake null": a destroyed object compares equal to null.
        public static implicit operator bool(Object exists) { return IsAlive(exists); }

        public static bool operator ==(Object x, Object y)
        {
            if (ReferenceEquals(x, null) || ReferenceEquals(y, null))
            {
                return IsAlive(x) == IsAlive(y);
            }
            return ReferenceEquals(x, y);
        }

        public static bool operator !=(Object x, Object y) { return !(x == y); }

        public override bool Equals(object other) { return ReferenceEquals(this, other); }

        public override int GetHashCode() { return 0; }
    }

    public class ScriptableObject : Object
    {
        public static T CreateInstance<T>() where T : ScriptableObject { return Activator.CreateInstance<T>(); }
    }

    public class Component : Object
    {
        internal GameObject owner;

        public Transform transform { get { return owner == null ? null : owner.transform; } }
        public GameObject gameObject { get { return owner; } }
        public T GetComponentInParent<T>() { return owner.GetComponentInParent<T>(); }
        public T[] GetComponentsInChildren<T>(bool includeInactive) { return owner.GetComponentsInChildren<T>(includeInactive); }
    }

    public class Behaviour : Component
    {
        public bool enabled { get; set; }
    }

    public sealed class GameObject : Object
    {
        internal readonly List<Component> components = new List<Component>();
        private readonly Transform _transform;

        public GameObject(string name)
        {
            this.name = name;
            _transform = new Transform { owner = this };
            components.Add(_transform);
        }

        public Transform transform { get { return _transform; } }

        public T AddComponent<T>() where T : Component
        {
            var component = Activator.CreateInstance<T>();
            component.owner = this;
            components.Add(component);
            return component;
        }

        public T GetComponent<T>()
        {
            foreach (var component in components)
            {
                if (component is T)
                {
                    return (T)(object)component;
                }
            }
            return default(T);
        }

        public T GetComponentInParent<T>()
        {
            for (var t = _transform; t != null; t = t.parent)
            {
                var found = t.gameObject.GetComponent<T>();
                if (found != null)
                {
                    return found;
                }
            }
            return default(T);
        }

        public T[] GetComponentsInChildren<T>(bool includeInactive)
        {
            var found = new List<T>();
            Collect(_transform, found);
            return found.ToArray();
        }

        private static void Collect<T>(Transform transform, List<T> found)
        {
            foreach (var component in transform.gameObject.components)
            {
                if (component is T)
                {
                    found.Add((T)(object)component);
                }
            }
            foreach (var child in transform.children)
            {
                Collect(child, found);
            }
        }
    }

    public class Transform : Component
    {
        internal readonly List<Transform> children = new List<Transform>();
        private Transform _parent;

        public Vector3 localPosition { get; set; }
        public Quaternion localRotation { get; set; }
        public Vector3 localScale { get; set; }
        public Vector3 position { get; set; }
        public Quaternion rotation { get; set; }
        public Transform parent { get { return _parent; } set { SetParent(value, true); } }
        public int childCount { get { return children.Count; } }

        public Transform GetChild(int index) { return children[index]; }

        public void SetParent(Transform parent, bool worldPositionStays)
        {
            if (_parent != null)
            {
                _parent.children.Remove(this);
            }
            _parent = parent;
            if (parent != null)
            {
                parent.children.Add(this);
            }
        }
    }

    public sealed class Avatar : Object
    {
        internal string hipsBone;

        public bool isValid { get { return hipsBone != null; } }
        public bool isHuman { get { return hipsBone != null; } }
    }

    public class Animator : Behaviour
    {
        public Avatar avatar { get; set; }
        public bool isHuman { get { return avatar != null && avatar.isHuman; } }
    }

    public struct Vector2
    {
        public float x;
        public float y;
        public Vector2(float x, float y) { this.x = x; this.y = y; }
    }

    public struct Vector3
    {
        public float x;
        public float y;
        public float z;
        public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }
        public static Vector3 zero { get { return new Vector3(0, 0, 0); } }
        public static Vector3 one { get { return new Vector3(1, 1, 1); } }
    }

    public struct Quaternion
    {
        public float x;
        public float y;
        public float z;
        public float w;
        public Quaternion(float x, float y, float z, float w) { this.x = x; this.y = y; this.z = z; this.w = w; }
        public static Quaternion identity { get { return new Quaternion(0, 0, 0, 1); } }
    }

    public struct Rect
    {
        public Rect(float x, float y, float width, float height) { }
    }

    public static class Mathf
    {
        public static int RoundToInt(float f) { return (int)Math.Round(f); }
        public static float Clamp01(float value) { return Math.Max(0f, Math.Min(1f, value)); }
    }

    public static class Application
    {
        public static string unityVersion { get { return ""; } }
        public static string dataPath { get { return ""; } }

        /// <summary>As in Unity: true when the process was started with -batchmode.</summary>
        public static bool isBatchMode { get { return Array.IndexOf(Environment.GetCommandLineArgs(), "-batchmode") >= 0; } }
    }

    public static class Debug
    {
        public static void Log(object message) { Console.Error.WriteLine(message); }
        public static void LogWarning(object message) { Console.Error.WriteLine("warning: " + message); }
        public static void LogError(object message) { Console.Error.WriteLine("error: " + message); }
        public static void LogException(Exception exception) { Console.Error.WriteLine(exception); }
    }

    public struct Keyframe
    {
        public Keyframe(float time, float value) : this(time, value, 0, 0) { }

        public Keyframe(float time, float value, float inTangent, float outTangent)
        {
            this.time = time;
            this.value = value;
            this.inTangent = inTangent;
            this.outTangent = outTangent;
        }

        public float time { get; set; }
        public float value { get; set; }
        public float inTangent { get; set; }
        public float outTangent { get; set; }
    }

    public sealed class AnimationCurve
    {
        public AnimationCurve(params Keyframe[] keys) { this.keys = (Keyframe[])keys.Clone(); }
        public Keyframe[] keys { get; set; }
        public int length { get { return keys.Length; } }
    }

    public class Motion : Object
    {
    }

    public sealed class AnimationClip : Motion
    {
        internal readonly Dictionary<string, AnimationCurve> curves = new Dictionary<string, AnimationCurve>();

        public float frameRate { get; set; }
        public bool humanMotion { get { return false; } }

        /// <summary>The time of the last key of any curve.</summary>
        public float length
        {
            get
            {
                float end = 0;
                foreach (var curve in curves.Values)
                {
                    if (curve.keys.Length > 0)
                    {
                        end = Math.Max(end, curve.keys[curve.keys.Length - 1].time);
                    }
                }
                return end;
            }
        }

        /// <summary>
        /// Not Mecanim: the RootT curves' values at the last key at or before <paramref name="time"/> go onto the hips
        /// bone of the object's Animator (the stand-in's "body", see HumanPoseHandler).
        /// </summary>
        public void SampleAnimation(GameObject go, float time)
        {
            var animator = go.GetComponent<Animator>();
            var hips = HumanPoseHandler.FindBone(go.transform, animator.avatar.hipsBone);
            hips.localPosition = new Vector3(ValueAt("/RootT.x", time), ValueAt("/RootT.y", time), ValueAt("/RootT.z", time));
        }

        private float ValueAt(string key, float time)
        {
            AnimationCurve curve;
            if (!curves.TryGetValue(key, out curve) || curve.keys.Length == 0)
            {
                return 0;
            }
            var value = curve.keys[0].value;
            foreach (var k in curve.keys)
            {
                if (k.time <= time + 1e-6f)
                {
                    value = k.value;
                }
            }
            return value;
        }
    }

    public enum HumanBodyBones
    {
        Hips = 0, LeftUpperLeg = 1, RightUpperLeg = 2, LeftLowerLeg = 3, RightLowerLeg = 4, LeftFoot = 5, RightFoot = 6,
        Spine = 7, Chest = 8, Neck = 9, Head = 10, LeftShoulder = 11, RightShoulder = 12, LeftUpperArm = 13,
        RightUpperArm = 14, LeftLowerArm = 15, RightLowerArm = 16, LeftHand = 17, RightHand = 18, LeftToes = 19,
        RightToes = 20, LeftEye = 21, RightEye = 22, Jaw = 23, LeftThumbProximal = 24, LeftThumbIntermediate = 25,
        LeftThumbDistal = 26, LeftIndexProximal = 27, LeftIndexIntermediate = 28, LeftIndexDistal = 29,
        LeftMiddleProximal = 30, LeftMiddleIntermediate = 31, LeftMiddleDistal = 32, LeftRingProximal = 33,
        LeftRingIntermediate = 34, LeftRingDistal = 35, LeftLittleProximal = 36, LeftLittleIntermediate = 37,
        LeftLittleDistal = 38, RightThumbProximal = 39, RightThumbIntermediate = 40, RightThumbDistal = 41,
        RightIndexProximal = 42, RightIndexIntermediate = 43, RightIndexDistal = 44, RightMiddleProximal = 45,
        RightMiddleIntermediate = 46, RightMiddleDistal = 47, RightRingProximal = 48, RightRingIntermediate = 49,
        RightRingDistal = 50, RightLittleProximal = 51, RightLittleIntermediate = 52, RightLittleDistal = 53,
        UpperChest = 54, LastBone = 55,
    }

    public static class HumanTrait
    {
        public static int MuscleCount { get { return 95; } }

        /// <summary>Placeholder names ("Muscle 0", ...): the stand-in has no muscle model.</summary>
        public static string[] MuscleName
        {
            get
            {
                var names = new string[MuscleCount];
                for (int m = 0; m < names.Length; m++)
                {
                    names[m] = "Muscle " + m;
                }
                return names;
            }
        }

        public static int BoneCount { get { return 55; } }

        /// <summary>HumanBodyBones' names, as Unity's body bone names are (fingers differ there; unused here).</summary>
        public static string[] BoneName
        {
            get
            {
                var names = new string[BoneCount];
                for (int b = 0; b < names.Length; b++)
                {
                    names[b] = ((HumanBodyBones)b).ToString();
                }
                return names;
            }
        }
    }

    public struct SkeletonBone
    {
        public string name;
        public Vector3 position;
        public Quaternion rotation;
        public Vector3 scale;
    }

    public struct HumanLimit
    {
        public bool useDefaultValues { get; set; }
    }

    public struct HumanBone
    {
        public HumanLimit limit;
        public string boneName { get; set; }
        public string humanName { get; set; }
    }

    public struct HumanDescription
    {
        public HumanBone[] human;
        public SkeletonBone[] skeleton;
        public float upperArmTwist { get; set; }
        public float lowerArmTwist { get; set; }
        public float upperLegTwist { get; set; }
        public float lowerLegTwist { get; set; }
        public float armStretch { get; set; }
        public float legStretch { get; set; }
        public float feetSpacing { get; set; }
        public bool hasTranslationDoF { get; set; }
    }

    public class AvatarBuilder
    {
        /// <summary>Stand-in: a Humanoid Avatar whenever the description maps a bone to Hips.</summary>
        public static Avatar BuildHumanAvatar(GameObject go, HumanDescription humanDescription)
        {
            var avatar = new Avatar();
            foreach (var bone in humanDescription.human ?? new HumanBone[0])
            {
                if (bone.humanName == "Hips")
                {
                    avatar.hipsBone = bone.boneName;
                }
            }
            return avatar;
        }
    }

    public struct HumanPose
    {
        public Vector3 bodyPosition;
        public Quaternion bodyRotation;
        public float[] muscles;
    }

    /// <summary>
    /// Not Mecanim: the "body" is the Hips bone's local position and rotation, and every muscle reads the Hips
    /// rotation's y. Enough to see a pose go onto a character, come off it again, and move a baked curve.
    /// </summary>
    public class HumanPoseHandler : IDisposable
    {
        private readonly Transform _hips;

        internal static Transform FindBone(Transform root, string name)
        {
            return Find(root, name);
        }

        public HumanPoseHandler(Avatar avatar, Transform root)
        {
            _hips = Find(root, avatar.hipsBone);
            if (_hips == null)
            {
                throw new ArgumentException("no " + avatar.hipsBone + " under " + root.name);
            }
        }

        private static Transform Find(Transform transform, string name)
        {
            if (transform.name == name || transform.gameObject.name == name)
            {
                return transform;
            }
            foreach (var child in transform.children)
            {
                var found = Find(child, name);
                if (found != null)
                {
                    return found;
                }
            }
            return null;
        }

        public void GetHumanPose(ref HumanPose humanPose)
        {
            humanPose.bodyPosition = _hips.localPosition;
            humanPose.bodyRotation = _hips.localRotation;
            humanPose.muscles = new float[HumanTrait.MuscleCount];
            for (int m = 0; m < humanPose.muscles.Length; m++)
            {
                humanPose.muscles[m] = _hips.localRotation.y;
            }
        }

        public void SetHumanPose(ref HumanPose humanPose)
        {
            _hips.localPosition = humanPose.bodyPosition;
            _hips.localRotation = humanPose.bodyRotation;
        }

        public void Dispose() { }
    }

    public class GUIContent
    {
        public GUIContent(string text) { }
    }

    public class GUIStyle
    {
    }

    public sealed class GUILayoutOption
    {
    }

    public enum EventType
    {
        MouseDown = 0,
        MouseUp = 1,
        MouseMove = 2,
        MouseDrag = 3,
        KeyDown = 4,
        KeyUp = 5,
        ScrollWheel = 6,
        Repaint = 7,
        Layout = 8,
        Used = 12,
    }

    public sealed class Event
    {
        public static Event current { get; set; }
        public EventType type { get; set; }
    }

    /// <summary>
    /// IMGUI's layout cache, as far as the stand-ins need it: the Layout event records each control's place and
    /// every later event of the frame takes them back in order; asking for one more than Layout recorded fails the
    /// way Unity's GUILayoutUtility does.
    /// </summary>
    internal static class LayoutCache
    {
        private static int _recorded;
        private static int _cursor;

        internal static void BeginEvent(Event e)
        {
            if (e.type == EventType.Layout)
            {
                _recorded = 0;
            }
            _cursor = 0;
        }

        internal static void Control()
        {
            var e = Event.current;
            if (e == null || e.type == EventType.Used)
            {
                return;
            }
            if (e.type == EventType.Layout)
            {
                _recorded++;
                return;
            }
            if (_cursor >= _recorded)
            {
                throw new ArgumentException("Getting control " + _cursor + "'s position in a group with only " + _recorded
                    + " controls when doing " + e.type + "\nAborting");
            }
            _cursor++;
        }
    }

    public class GUI
    {
        public static void FocusControl(string name) { }
    }

    public class GUILayout
    {
        public static bool Button(string text, params GUILayoutOption[] options) { LayoutCache.Control(); return false; }
        public static bool Toggle(bool value, string text, params GUILayoutOption[] options) { LayoutCache.Control(); return value; }
        public static int Toolbar(int selected, string[] texts, params GUILayoutOption[] options) { LayoutCache.Control(); return selected; }
        public static bool Button(GUIContent content, params GUILayoutOption[] options) { LayoutCache.Control(); return false; }
        public static GUILayoutOption Width(float width) { return null; }
        public static GUILayoutOption Height(float height) { return null; }
        public static GUILayoutOption MinHeight(float minHeight) { return null; }
    }
}

namespace UnityEngine.SceneManagement
{
    public struct Scene
    {
        public string path { get { return ""; } }
        public string name { get { return ""; } }
    }
}
