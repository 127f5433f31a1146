# The Keyward package: one NativeAOT binary (with libsodium.so and libe_sqlite3.so beside it), shell completions and
# keyward(1). Build it from a nixpkgs checkout or flake with `pkgs.callPackage ./nix/package.nix { }`.
# The NuGet packages are pinned by ./deps.json (regenerate it with nix/update-deps.py after a package change).
{
  lib,
  stdenv,
  buildDotnetModule,
  dotnetCorePackages,
  clang,
  zlib,
  openssl,
  installShellFiles,
}:

buildDotnetModule {
  pname = "keyward";
  version = "0.1.0";

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../src
      ../Directory.Build.props
      ../Directory.Packages.props
      ../BannedSymbols.txt
    ];
  };

  projectFile = "src/Keyward.Cli/Keyward.Cli.csproj";
  nugetDeps = ./deps.json;
  dotnet-sdk = dotnetCorePackages.sdk_10_0;

  # NativeAOT: the ILCompiler packages come with nixpkgs' source-built SDK (dotnet: fix aot compilation, nixpkgs#309409);
  # linking needs clang and zlib. The binary needs no .NET runtime at run time.
  selfContainedBuild = true;
  dotnetFlags = [ "-p:PublishAot=true" ];
  nativeBuildInputs = [ clang installShellFiles ];
  buildInputs = [ zlib ];
  # The image is linked at a fixed address (-no-pie) and not dehydrated, for a ~14 ms start instead of ~53 ms
  # (docs/design.md, "Start-up: a position-dependent image"): keep the cc-wrapper from adding -pie back. For a
  # randomised (PIE) image instead, override: dotnetFlags = [ "-p:PublishAot=true" "-p:KeywardPie=true" ] and drop this.
  hardeningDisable = [ "pie" ];
  # The AOT binary dlopens libssl.so.3 once it does TLS or RSA: put OpenSSL on its library path.
  runtimeDeps = [ openssl ];
  executables = [ "keyward" ];

  # The test suite drives real peers (nginx, age, nix, a loopback Kubernetes API...): run it with ./test.sh, not here.
  doCheck = false;

  postInstall = lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    installShellCompletion --cmd keyward \
      --bash <($out/bin/keyward completion bash) \
      --zsh <($out/bin/keyward completion zsh) \
      --fish <($out/bin/keyward completion fish)
    $out/bin/keyward man -o keyward.1
    installManPage keyward.1
  '';

  meta = {
    description = "Key and token authority for self-hosted Nix and GitOps infrastructure";
    mainProgram = "keyward";
    platforms = lib.platforms.linux;
  };
}
