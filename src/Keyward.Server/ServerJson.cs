using System.Text.Json.Serialization;

namespace Keyward.Server;

/// <summary>Every type the server writes or reads as JSON, source-generated (no reflection: the binary is NativeAOT).
/// Add a <c>[JsonSerializable]</c> line here for each new response or request type.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Endpoints.HealthStatus))]
[JsonSerializable(typeof(Endpoints.ReadyStatus))]
[JsonSerializable(typeof(Auth.ApiError))]
[JsonSerializable(typeof(Endpoints.ApiCredentialList))]
[JsonSerializable(typeof(Endpoints.ApiCredential))]
[JsonSerializable(typeof(Endpoints.ApiPlan))]
[JsonSerializable(typeof(Endpoints.ApiAudit))]
[JsonSerializable(typeof(Endpoints.CiTokenRequest))]
[JsonSerializable(typeof(Endpoints.CiTokenResponse))]
[JsonSerializable(typeof(Endpoints.CiTokenRefusal))]
[JsonSerializable(typeof(RateLimiting.RateLimitedResponse))]
internal sealed partial class ServerJson : JsonSerializerContext;
