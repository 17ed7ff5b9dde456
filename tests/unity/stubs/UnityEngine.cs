// Stand-ins for the UnityEngine API the MotionBridge editor code uses, so mcs can type-check unity_client/Editor
// and Samples~ without a Unity install. Signatures follow Unity 2021.3's public API; bodies are placeholders
// (Debug writes to stderr so tests/unity/editor_probe shows the editor code's warnings).
using System;

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
        public string name { get; set; }
        public HideFlags hideFlags { get; set; }

        public static void DestroyImmediate(Object obj) { }

        public static implicit operator bool(Object exists) { return !ReferenceEquals(exists, null); }

        public static bool operator ==(Object x, Object y) { return ReferenceEquals(x, y); }

        public static bool operator !=(Object x, Object y) { return !ReferenceEquals(x, y); }

        public override bool Equals(object other) { return ReferenceEquals(this, other); }

        public override int GetHashCode() { return 0; }
    }

    public class ScriptableObject : Object
    {
    }

    public class Component : Object
    {
        public Transform transform { get { return null; } }
        public GameObject gameObject { get { return null; } }
        public T GetComponentInParent<T>() { return default(T); }
        public T[] GetComponentsInChildren<T>(bool includeInactive) { return new T[0]; }
    }

    public class Behaviour : Component
    {
        public bool enabled { get; set; }
    }

    public sealed class GameObject : Object
    {
        public GameObject(string name) { }
        public Transform transform { get { return null; } }
        public T GetComponent<T>() { return default(T); }
        public T GetComponentInParent<T>() { return default(T); }
    }

    public class Transform : Component
    {
        public Vector3 localPosition { get; set; }
        public Quaternion localRotation { get; set; }
        public Vector3 localScale { get; set; }
        public Vector3 position { get; set; }
        public Quaternion rotation { get; set; }
        public Transform parent { get; set; }
        public void SetParent(Transform parent, bool worldPositionStays) { }
    }

    public sealed class Avatar : Object
    {
        public bool isValid { get { return false; } }
        public bool isHuman { get { return false; } }
    }

    public class Animator : Behaviour
    {
        public Avatar avatar { get; set; }
        public bool isHuman { get { return false; } }
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
        public Keyframe(float time, float value) { }
        public float time { get { return 0; } set { } }
        public float value { get { return 0; } set { } }
    }

    public sealed class AnimationCurve
    {
        public AnimationCurve(params Keyframe[] keys) { }
        public Keyframe[] keys { get { return new Keyframe[0]; } set { } }
    }

    public class Motion : Object
    {
    }

    public sealed class AnimationClip : Motion
    {
        public float frameRate { get; set; }
        public float length { get { return 0; } }
        public bool humanMotion { get { return false; } }
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
        public static string[] MuscleName { get { return new string[95]; } }
        public static int BoneCount { get { return 55; } }
        public static string[] BoneName { get { return new string[55]; } }
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
        public bool useDefaultValues { get { return true; } set { } }
    }

    public struct HumanBone
    {
        public HumanLimit limit;
        public string boneName { get { return null; } set { } }
        public string humanName { get { return null; } set { } }
    }

    public struct HumanDescription
    {
        public HumanBone[] human;
        public SkeletonBone[] skeleton;
        public float upperArmTwist { get { return 0; } set { } }
        public float lowerArmTwist { get { return 0; } set { } }
        public float upperLegTwist { get { return 0; } set { } }
        public float lowerLegTwist { get { return 0; } set { } }
        public float armStretch { get { return 0; } set { } }
        public float legStretch { get { return 0; } set { } }
        public float feetSpacing { get { return 0; } set { } }
        public bool hasTranslationDoF { get { return false; } set { } }
    }

    public class AvatarBuilder
    {
        public static Avatar BuildHumanAvatar(GameObject go, HumanDescription humanDescription) { return null; }
    }

    public struct HumanPose
    {
        public Vector3 bodyPosition;
        public Quaternion bodyRotation;
        public float[] muscles;
    }

    public class HumanPoseHandler : IDisposable
    {
        public HumanPoseHandler(Avatar avatar, Transform root) { }
        public void GetHumanPose(ref HumanPose humanPose) { }
        public void SetHumanPose(ref HumanPose humanPose) { }
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

    public class GUI
    {
        public static void FocusControl(string name) { }
    }

    public class GUILayout
    {
        public static bool Button(string text, params GUILayoutOption[] options) { return false; }
        public static bool Toggle(bool value, string text, params GUILayoutOption[] options) { return value; }
        public static int Toolbar(int selected, string[] texts, params GUILayoutOption[] options) { return selected; }
        public static GUILayoutOption Width(float width) { return null; }
        public static GUILayoutOption Height(float height) { return null; }
        public static GUILayoutOption MinHeight(float minHeight) { return null; }
    }
}
