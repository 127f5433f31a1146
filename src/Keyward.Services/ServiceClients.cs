using System.Collections.Concurrent;
using Keyward.Core.Manifest;
using Keyward.Services.Attic;
using Keyward.Services.Coder;
using Keyward.Services.Gitea;
using Keyward.Services.GitHub;
using Keyward.Services.GitLab;
using Keyward.Services.Http;
using Microsoft.Extensions.Logging;

namespace Keyward.Services;

/// <summary>Builds one adapter per declared service, all sharing one HttpClient and one policy.</summary>
public sealed class ServiceClients(HttpClient client, ServiceHttpOptions options, TimeProvider time, ILoggerFactory? loggers = null)
{
    private readonly ConcurrentDictionary<string, ServiceHttp> _http = new(StringComparer.Ordinal);

    public TimeProvider Time { get; } = time;

    public ServiceHttp Http(Service service) => _http.GetOrAdd(service.Name, _ => new ServiceHttp(service.Name, service.Url, Shape(service.Kind), client, options, Time,
        loggers?.CreateLogger("Keyward.Services." + service.Kind)));

    public static ErrorShape Shape(ServiceKind kind) => kind switch
    {
        ServiceKind.Attic => ErrorShape.Attic,
        ServiceKind.Coder => ErrorShape.Coder,
        ServiceKind.Gitea => ErrorShape.Gitea,
        ServiceKind.GitHub => ErrorShape.GitHub,
        ServiceKind.GitLab => ErrorShape.GitLab,
        _ => ErrorShape.Plain,
    };

    public AtticClient Attic(Service s) => new(Http(s));
    public CoderClient Coder(Service s) => new(Http(s));
    public GiteaClient Gitea(Service s) => new(Http(s));
    public GitHubClient GitHub(Service s) => new(Http(s));
    public GitLabClient GitLab(Service s) => new(Http(s));
}
