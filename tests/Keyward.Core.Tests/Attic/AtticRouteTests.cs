using Keyward.Core.Attic;

namespace Keyward.Core.Tests.Attic;

public sealed class AtticRouteTests
{
    [Theory]
    [InlineData("GET", "/main/nix-cache-info", "main", AtticPermission.Pull)]
    [InlineData("HEAD", "/main/abc123.narinfo?x=1", "main", AtticPermission.Pull)]
    [InlineData("GET", "/team+shared/nar/abc.nar", "team+shared", AtticPermission.Pull)]
    [InlineData(null, "/main/attic-cache-info", "main", AtticPermission.Pull)]
    [InlineData("GET", "/_api/v1/cache-config/main", "main", AtticPermission.Pull)]
    [InlineData("POST", "/_api/v1/cache-config/main", "main", AtticPermission.CreateCache)]
    [InlineData("PATCH", "/_api/v1/cache-config/main", "main", AtticPermission.ConfigureCache)]
    [InlineData("DELETE", "/_api/v1/cache-config/main", "main", AtticPermission.DestroyCache)]
    public void Requests_map_to_the_cache_and_permission_atticd_checks(string? method, string uri, string cache, AtticPermission permission) =>
        Assert.Equal(new AtticRoute(cache, permission), AtticRoute.Classify(method, uri));

    [Theory]
    [InlineData("PUT", "/_api/v1/upload-path")]
    [InlineData("POST", "/_api/v1/get-missing-paths")]
    [InlineData("GET", "/")]
    [InlineData("GET", "/main")]
    [InlineData("POST", "/main/x.narinfo")]
    [InlineData("GET", "/bad*name/nix-cache-info")]
    [InlineData("GET", "relative/path")]
    [InlineData("GET", null)]
    public void Requests_whose_cache_is_not_in_the_path_are_left_to_atticd(string method, string? uri) =>
        Assert.Null(AtticRoute.Classify(method, uri));
}
