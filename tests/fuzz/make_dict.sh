#!/usr/bin/env bash
# Writes tests/fuzz/config_load.dict, the libFuzzer dictionary of the
# config_load target: the keys and enum values of config/schema_*.c, the
# template variables of config/template.c, and YAML and value syntax. Run
# from anywhere when the schema grows; the file is committed.
set -eu
cd "$(dirname "$0")/../.."
{
    echo '# libFuzzer dictionary for fuzz_config_load: the keys and enum values of'
    echo '# config/schema_*.c, template variables, and YAML and value syntax.'
    echo '# Written by tests/fuzz/make_dict.sh; do not edit.'
    grep -ohE 'KEY_[A-Z_]+\([A-Za-z]+, *[a-z_]+(, *[a-z_]+)?, *"[a-z_0-9]+"' config/schema_*.c \
        | grep -oE '"[a-z_0-9]+"$' | sed 's/"$/:"/' | LC_ALL=C sort -u
    grep -ohE '\{ *"[a-z0-9_.]+", *[A-Z_0-9]+ *\}' config/schema_*.c | grep -oE '"[^"]+"' \
        | LC_ALL=C sort -u
    sed -n '/tvar_names\[\] = {/,/};/p' config/template.c | grep -oE '"[a-z_]+"' \
        | sed 's/^"/"{/; s/"$/}"/'
    for t in '- ' ': ' '{ ' ' }' '[' ']' ', ' '&a ' '*a' '<<: ' '${' ':-' '$$' '---' '|' '>' \
             '0x' 'ms' 'us' '1m30s' 'KiB' 'MiB' 'GB' '1e3' '.inf' '~' 'null' '!!str' \
             '\\x' '\\n' '\\r' '#'; do
        printf '"%s"\n' "$t"
    done
} >tests/fuzz/config_load.dict
