# NixOS module: services.keyward. The authority (`keyward serve`) and the host side (`keyward agent`): sinks written at
# activation (so they exist before services start on `nixos-rebuild switch`), before the units that need them at boot,
# and kept in step by `agent --watch`. Options are documented in docs/nixos.md.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.keyward;
  inherit (lib) mkOption mkEnableOption mkIf mkMerge types optional optionals escapeShellArgs;
  exe = "${cfg.package}/bin/keyward";

  # Sandboxing both units share (systemd.exec(5)); see deploy/systemd for the same units outside NixOS.
  sandbox = {
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    PrivateTmp = true;
    PrivateDevices = true;
    DevicePolicy = "closed";
    ProtectClock = true;
    ProtectControlGroups = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    LockPersonality = true;
    # Safe for the NativeAOT binary (no run-time code generation).
    MemoryDenyWriteExecute = true;
    RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    SystemCallArchitectures = "native";
    SystemCallErrorNumber = "EPERM";
    UMask = "0077";
  };

  serveArgs =
    [ "serve" "-f" cfg.server.manifest "--state" "/var/lib/keyward" "--listen" cfg.server.listen "--interval" cfg.server.interval ]
    ++ optionals (cfg.server.store != null) [ "--store" cfg.server.store ]
    ++ (if cfg.server.tls.certFile != null
        then [ "--tls-cert" "%d/tls.crt" "--tls-key" "%d/tls.key" ]
        else [ "--insecure-listen" ])
    ++ cfg.server.extraArgs;

  agentArgs = mode:
    [ "agent" "--server" cfg.agent.server "--identity" cfg.agent.identity mode ] ++ cfg.agent.extraArgs;
in
{
  options.services.keyward = {
    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "The Keyward package (the NativeAOT binary).";
    };

    server = {
      enable = mkEnableOption "the Keyward authority (`keyward serve`): renewals, rotations, checks and the agent API";
      manifest = mkOption {
        type = types.path;
        description = "The manifest (keyward.yaml). It holds no secret values, so a path in the Nix store is fine.";
      };
      listen = mkOption {
        type = types.str;
        default = "127.0.0.1:8443";
        example = "unix:/run/keyward/gate.sock";
        description = "HOST:PORT, or unix:PATH for a Unix socket (e.g. nginx's auth_request on this host; /run/keyward is the service's RuntimeDirectory), to listen on (`--listen`). More addresses: `--listen` in extraArgs.";
      };
      interval = mkOption {
        type = types.str;
        default = "5m";
        description = "How often the controller loop runs (`--interval`).";
      };
      store = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "Host=/run/postgresql;Database=keyward;Username=keyward";
        description = ''
          PostgreSQL connection string (`--store`) for several replicas sharing one store; null keeps the embedded SQLite
          store in the state directory. It ends up in the Nix store: use peer authentication over the socket (the
          service's user is `keyward`), never a password here.
        '';
      };
      tls = {
        certFile = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "TLS certificate path (outside the Nix store), handed over with LoadCredential. null: plain HTTP (`--insecure-listen`), only sensible on loopback behind a TLS proxy.";
        };
        keyFile = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "TLS private key path (outside the Nix store; e.g. a sops-nix or agenix secret), handed over with LoadCredential.";
        };
      };
      openFirewall = mkOption {
        type = types.bool;
        default = false;
        description = "Open the port of `listen` in the firewall.";
      };
      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "More arguments for `keyward serve`.";
      };
    };

    agent = {
      enable = mkEnableOption "the Keyward agent: this host's sinks from the authority";
      server = mkOption {
        type = types.str;
        example = "https://keyward.example.org:8443";
        description = "The authority's URL (`--server`).";
      };
      identity = mkOption {
        type = types.str;
        default = "/etc/ssh/ssh_host_ed25519_key";
        description = "The SSH host key the agent proves itself with and its sinks are encrypted to (`--identity`). On an impermanent host, a persisted path.";
      };
      atActivation = mkOption {
        type = types.bool;
        default = true;
        description = "Run `agent --once` during activation (after users and groups exist), so `nixos-rebuild switch` writes new sinks before it restarts services. A failure (no network at boot) warns and does not fail the activation.";
      };
      before = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "atticd.service" "nix-daemon.service" ];
        description = "Units that need their sinks at boot: a one-shot `agent --once` (after the network is online) runs before each of them and is required by it.";
      };
      readWritePaths = mkOption {
        type = types.listOf types.str;
        default = [ "/etc/nix" "/var/lib" "/persist" "/nix/persist" ];
        description = "Where the agent may write (everything else is read-only to it, ProtectSystem=strict); /run/keyward is always writable. Paths that do not exist are skipped.";
      };
      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "More arguments for `keyward agent`.";
      };
    };

    persist = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/persist";
      description = ''
        The impermanence root (environment.persistence.<root>) on an impermanent host: the server's state directory
        /var/lib/private/keyward (DynamicUser) is persisted there as a directory, never as a file (rename(2) onto a
        bind-mounted file fails). Sinks that must survive a reboot name their persistence root in the manifest.
      '';
    };

    nixAccessTokens = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/keyward/nix-access-tokens.conf";
      description = "A nix-access-tokens sink's path: nix.conf gets `!include PATH` (a missing file is ignored), so Nix fetches with the tokens the sink holds.";
    };
  };

  config = mkMerge [
    (mkIf cfg.server.enable {
      assertions = [{
        assertion = (cfg.server.tls.certFile == null) == (cfg.server.tls.keyFile == null);
        message = "services.keyward.server.tls: set both certFile and keyFile, or neither";
      }];

      systemd.services.keyward = {
        description = "Keyward credential authority (keyward serve)";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ] ++ optional (cfg.server.store != null) "postgresql.service";
        serviceConfig = sandbox // {
          Type = "exec";
          ExecStart = "${exe} ${escapeShellArgs serveArgs}";
          Restart = "on-failure";
          RestartSec = "5s";
          DynamicUser = true;
          User = "keyward";
          StateDirectory = "keyward";
          StateDirectoryMode = "0700";
          # /run/keyward: where a `--listen unix:` socket goes (shared with the agent units, hence preserved).
          RuntimeDirectory = "keyward";
          RuntimeDirectoryMode = "0755";
          RuntimeDirectoryPreserve = true;
          LoadCredential = optionals (cfg.server.tls.certFile != null) [
            "tls.crt:${cfg.server.tls.certFile}"
            "tls.key:${cfg.server.tls.keyFile}"
          ];
          CapabilityBoundingSet = [ "" ];
          AmbientCapabilities = [ "" ];
          PrivateUsers = true;
          ProtectHome = true;
          ProtectProc = "invisible";
          ProcSubset = "pid";
          RemoveIPC = true;
          SystemCallFilter = [ "@system-service" "~@privileged" ];
        };
      };

      networking.firewall.allowedTCPPorts =
        optional (cfg.server.openFirewall && builtins.substring 0 5 cfg.server.listen != "unix:") (lib.toInt (lib.last (lib.splitString ":" cfg.server.listen)));
    })

    (mkIf cfg.agent.enable {
      systemd.services.keyward-agent = {
        description = "Keyward agent: this host's credentials from the authority";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        serviceConfig = sandbox // {
          Type = "exec";
          ExecStart = "${exe} ${escapeShellArgs (agentArgs "--watch")}";
          Restart = "on-failure";
          RestartSec = "10s";
          User = "root";
          # chown to a sink's owner, chmod a file root does not own, write into another user's 0700 directory.
          CapabilityBoundingSet = [ "CAP_CHOWN" "CAP_FOWNER" "CAP_DAC_OVERRIDE" ];
          AmbientCapabilities = [ "" ];
          ProtectHome = "read-only";
          ReadWritePaths = map (p: "-${p}") cfg.agent.readWritePaths;
          RuntimeDirectory = "keyward";
          RuntimeDirectoryMode = "0755";
          RuntimeDirectoryPreserve = true;
          # @system-service includes @chown: deny the rest of @privileged by name.
          SystemCallFilter = [ "@system-service" "~@clock @cpu-emulation @debug @module @mount @obsolete @raw-io @reboot @swap" ];
        };
      };

      systemd.services.keyward-agent-once = mkIf (cfg.agent.before != [ ]) {
        description = "Keyward agent, once: sinks before the units that need them";
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        before = cfg.agent.before;
        requiredBy = cfg.agent.before;
        serviceConfig = sandbox // {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${exe} ${escapeShellArgs (agentArgs "--once")}";
          User = "root";
          CapabilityBoundingSet = [ "CAP_CHOWN" "CAP_FOWNER" "CAP_DAC_OVERRIDE" ];
          ProtectHome = "read-only";
          ReadWritePaths = map (p: "-${p}") cfg.agent.readWritePaths;
          RuntimeDirectory = "keyward";
          RuntimeDirectoryMode = "0755";
          RuntimeDirectoryPreserve = true;
          SystemCallFilter = [ "@system-service" "~@clock @cpu-emulation @debug @module @mount @obsolete @raw-io @reboot @swap" ];
        };
      };

      # After users and groups (sinks are chowned to them) and, on impermanent hosts, after the persistent directories
      # are bind-mounted (sinks under /persist). Like agenix's agenixInstall, but tolerant: no network means a warning.
      system.activationScripts.keyward-agent = mkIf cfg.agent.atActivation {
        deps = [ "specialfs" "users" "groups" ] ++ optionals (cfg.persist != null) [ "createPersistentStorageDirs" "persist-files" ];
        text = ''
          if ! ${pkgs.coreutils}/bin/timeout 60 ${exe} ${escapeShellArgs (agentArgs "--once")}; then
            echo "keyward: agent --once failed during activation; keyward-agent.service retries" >&2
          fi
        '';
      };
    })

    (mkIf (cfg.persist != null && cfg.server.enable) {
      environment.persistence.${cfg.persist}.directories = [
        { directory = "/var/lib/private/keyward"; mode = "0700"; }
      ];
    })

    (mkIf (cfg.nixAccessTokens != null) {
      nix.extraOptions = ''
        !include ${cfg.nixAccessTokens}
      '';
    })
  ];
}
