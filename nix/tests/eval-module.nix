# Evaluates nix/module.nix with nixpkgs' real lib.evalModules against stub options for what NixOS would declare
# (systemd.services, system.activationScripts, users, networking.firewall, environment.persistence, nix.extraOptions,
# assertions), and prints the merged result as JSON. Needs a nixpkgs `lib` (none is vendored here):
#   nix-instantiate --eval --strict --json nix/tests/eval-module.nix --arg lib 'import /path/to/nixpkgs/lib' \
#     --arg settings '{ server.enable = true; server.manifest = "/etc/keyward.yaml"; }'
# nix/tests/stub-lib.nix evaluates the same module without nixpkgs (what CI here can run).
{ lib, settings ? { } }:

let
  inherit (lib) mkOption types;
  anything = mkOption { type = types.attrsOf types.anything; default = { }; };
  pkgs = import ./stub-pkgs.nix;
  stubs = {
    options = {
      assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
      systemd.services = anything;
      system.activationScripts = anything;
      networking.firewall.allowedTCPPorts = mkOption { type = types.listOf types.port; default = [ ]; };
      environment.persistence = anything;
      nix.extraOptions = mkOption { type = types.lines; default = ""; };
    };
  };
  evaluated = lib.evalModules {
    modules = [ stubs ../module.nix { services.keyward = settings; } ];
    specialArgs = { inherit pkgs; };
  };
  c = evaluated.config;
  failed = builtins.filter (a: !a.assertion) c.assertions;
in
if failed != [ ] then throw (builtins.concatStringsSep "; " (map (a: a.message) failed))
else { inherit (c) systemd system networking environment nix; }
