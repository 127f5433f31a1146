# Evaluates nix/module.nix WITHOUT nixpkgs (none can be fetched in CI here): a hand-written stand-in for the few `lib`
# functions the module uses and a naive module evaluator. It proves the module's expressions evaluate (no undefined
# name or attribute, no bad interpolation or call) and shows the units it produces; it proves NOTHING about option
# types or the module system's merging (mkIf/mkMerge are resolved naively, types are names only). For that run
# nix/tests/eval-module.nix with a real nixpkgs lib.
#   nix-instantiate --eval --strict --json nix/tests/stub-lib.nix --arg settings '{ server.enable = true; ... }'
{ settings ? { } }:

let
  b = builtins;
  option = "option";
  isOption = v: b.isAttrs v && (v._type or null) == option;
  isIf = v: b.isAttrs v && (v._type or null) == "if";
  isMerge = v: b.isAttrs v && (v._type or null) == "merge";
  type = name: { inherit name; };

  lib = rec {
    mkOption = attrs: attrs // { _type = option; };
    mkEnableOption = what: mkOption { default = false; description = "Whether to enable ${what}."; type = types.bool; };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    types = {
      bool = type "bool"; str = type "str"; path = type "path"; package = type "package"; port = type "port";
      nullOr = t: type "nullOr ${t.name}"; listOf = t: type "listOf ${t.name}"; attrsOf = t: type "attrsOf ${t.name}";
    };
    optional = c: x: if c then [ x ] else [ ];
    optionals = c: xs: if c then xs else [ ];
    # As nixpkgs does it: quoted only when it holds something besides [[:alnum:],._+:@%/-].
    escapeShellArg = s:
      let t = toString s; in
      if b.match "[[:alnum:],._+:@%/-]+" t == null then "'" + b.replaceStrings [ "'" ] [ "'\\''" ] t + "'" else t;
    escapeShellArgs = xs: b.concatStringsSep " " (map escapeShellArg xs);
    splitString = sep: s: b.filter b.isString (b.split (b.replaceStrings [ "." ":" ] [ "\\." ":" ] sep) s);
    last = xs: b.elemAt xs (b.length xs - 1);
    toInt = s: b.fromJSON s;
  };

  # Each option's value: the setting when given, else its default (an unset option without a default throws when read).
  unset = { _type = "unset"; };
  values = path: opts: given:
    if isOption opts then (if given != unset then given else opts.default or (throw "option ${path} is used but not set"))
    else b.mapAttrs (n: o: values "${path}.${n}" o (if given != unset && given ? ${n} then given.${n} else unset)) opts;

  # mkIf/mkMerge resolved naively: a false mkIf disappears, merged attribute sets are joined, lists concatenated.
  absent = { _type = "absent"; };
  resolve = v:
    if isIf v then (if v.condition then resolve v.content else absent)
    else if isMerge v then b.foldl' join { } (b.filter (x: x != absent) (map resolve v.contents))
    else if b.isAttrs v && !(v ? _type) && !(v ? outPath) then
      let r = b.mapAttrs (_: resolve) v; in b.removeAttrs r (b.filter (n: r.${n} == absent) (b.attrNames r))
    else v;
  join = a: c:
    a // b.mapAttrs (n: v:
      if !(a ? ${n}) then v
      else if b.isList v then a.${n} ++ v
      else if b.isAttrs v && b.isAttrs a.${n} then join a.${n} v
      else throw "conflicting definitions of ${n}") c;

  module = import ../module.nix { inherit lib config; pkgs = import ./stub-pkgs.nix; };
  config = { services.keyward = values "services.keyward" module.options.services.keyward settings; };
  result = resolve module.config;
  failed = b.filter (a: !a.assertion) (result.assertions or [ ]);
in
if failed != [ ] then throw (b.concatStringsSep "; " (map (a: a.message) failed))
else b.removeAttrs result [ "assertions" ]
