#!/usr/bin/env bash
# The baseline of the cold comparison of `make bench`: the work a cold `playbooks/site.yml` does on the local
# inventory, by hand, step for step (bench/site_bench.py checks afterwards that both deployments agree):
#   preflight   the Python libraries the modules import (by their metadata), and the daemon's /_ping
#   secrets     the accounts' passwords, the CA passphrase and the http secret, 0600 on the "controller"
#   PKI         the CA key (EC P-256) encrypted with the passphrase, the CA certificate (critical CA:TRUE,
#               pathlen 0, keyCertSign and cRLSign); the server key (EC P-256, 0400, user 10001) and a certificate
#               from the CA with every SAN (serverAuth), the CA beside it, a copy kept beside the CA
#   server      the image's version from APT and the image present with its recipe label; config.yml (the same
#               settings) and htpasswd (bcrypt, cost 10) 0600 user 10001, the storage 0750 user 10001; the
#               container through the Engine API with every setting site.yml gives it (read-only rootfs, tmpfs,
#               cap-drop ALL, no-new-privileges, memory, cpus, pids, the exec-form health check, user 10001, bind
#               address, restart policy, the digest label); a wait until /v2/ answers 200 over verified TLS with
#               the first account
#   trust       the CA into certs.d for every client address (0444 in 0755); one verified GET /v2/ with the account
#               at each address this host resolves; `docker login` there
#   smoke       the build context, `docker build` of the FROM scratch image, push, the tag removed, pull by
#               digest, HEAD and GET of the manifest and the sha256 of its bytes, RepoDigests: all must agree
# Teardown is the caller's (outside the timing, as for site.yml).
#
# Usage: floor_deploy.sh <root> <ip> <port> <container> <image> <python> <san entries, comma-separated>
#   <root> gets the layout of the bench's isolated inventory: inventory/{credentials,pki}, etc/, etc/tls/,
#   data/, smoke/; DOCKER_CONFIG in the environment receives the login.
set -euo pipefail
root=$1 ip=$2 port=$3 name=$4 image=$5 python=$6 sans=$7
uid=10001
credentials=$root/inventory/credentials pki=$root/inventory/pki
etc=$root/etc tls=$root/etc/tls data=$root/data smoke=$root/smoke
socket=/var/run/docker.sock

# Preflight.
"$python" -c 'import importlib.metadata as m; [m.version(d) for d in ("cryptography", "requests", "docker")]'
curl -fsS --unix-socket "$socket" http://docker/_ping >/dev/null

# Secrets, made once (ansible.builtin.password's alphabet and lengths).
secret() { openssl rand -base64 144 | tr -dc 'A-Za-z0-9' | cut -c "1-$1" | tr -d '\n'; }
umask 077
mkdir -p "$credentials" "$pki/secrets" "$pki/servers"
secret 32 >"$credentials/dockyard"
secret 32 >"$credentials/ci"
secret 40 >"$credentials/ca-passphrase"
secret 64 >"$pki/secrets/http-secret"
umask 022

# The CA, on the controller.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-256-cbc \
  -pass "file:$credentials/ca-passphrase" -out "$pki/ca.key" 2>/dev/null
chmod 0600 "$pki/ca.key"
openssl req -x509 -new -key "$pki/ca.key" -passin "file:$credentials/ca-passphrase" -sha256 -days 3650 \
  -subj "/CN=dockyard registry CA" -addext basicConstraints=critical,CA:TRUE,pathlen:0 \
  -addext keyUsage=critical,keyCertSign,cRLSign -out "$pki/ca.crt"
chmod 0644 "$pki/ca.crt"

# The server's key on the host, its certificate signed by the CA on the controller.
install -d -m 0755 "$tls"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/server.key"
chown "$uid:$uid" "$tls/server.key"
chmod 0400 "$tls/server.key"
common_name=${sans%%,*}
openssl req -new -key "$tls/server.key" -subj "/CN=${common_name#*:}" -addext "subjectAltName=$sans" \
  -out "$root/server.csr"
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth" "subjectAltName=$sans" "subjectKeyIdentifier=hash" \
  "authorityKeyIdentifier=keyid" >"$root/server.ext"
openssl x509 -req -in "$root/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
  -passin "file:$credentials/ca-passphrase" -CAcreateserial -CAserial "$root/ca.srl" -sha256 -days 365 \
  -extfile "$root/server.ext" -out "$tls/server.crt" 2>/dev/null
chmod 0444 "$tls/server.crt"
install -m 0444 "$pki/ca.crt" "$tls/ca.crt"
install -m 0644 "$tls/server.crt" "$pki/servers/dockyard-local.crt"

# The image: which version the OS package has, and the image of that version built by the recipe.
version=$(LC_ALL=C apt-cache policy docker-registry | sed -n 's/^ *Candidate: //p')
[ -n "$version" ] && [ "$version" != "(none)" ]
[ "$(docker image inspect -f '{{index .Config.Labels "dockyard.registry.recipe"}}' "$image")" = 2 ]

# config.yml and htpasswd (bcrypt, cost 10), the storage.
http_secret=$(cat "$pki/secrets/http-secret")
install -d -m 0755 "$etc"
cat >"$etc/config.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    readonly:
      enabled: false
auth:
  htpasswd:
    realm: "dockyard registry"
    path: /etc/docker/registry/htpasswd
http:
  addr: :5000
  secret: "$http_secret"
  tls:
    certificate: /etc/docker/registry/tls/server.crt
    key: /etc/docker/registry/tls/server.key
    minimumtls: tls1.2
    ciphersuites:
      - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
      - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
      - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
      - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
      - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
      - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
  headers:
    X-Content-Type-Options: [nosniff]
    Strict-Transport-Security: ["max-age=31536000"]
  debug:
    addr: 127.0.0.1:5001
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
"$python" - "$credentials" >"$etc/htpasswd" <<'EOF'
import sys
import bcrypt
for name in ("dockyard", "ci"):
    password = open(f"{sys.argv[1]}/{name}").read()
    print(f"{name}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode()}")
EOF
chown "$uid:$uid" "$etc/config.yml" "$etc/htpasswd"
chmod 0600 "$etc/config.yml" "$etc/htpasswd"
install -d -m 0750 -o "$uid" -g "$uid" "$data"

# The hardened container, through the Engine API (the docker CLI cannot give an exec-form health check, and the image
# has no shell for a CMD-SHELL one), labelled with a digest of what the registry reads at start.
digest=$(cat "$etc/config.yml" "$etc/htpasswd" "$tls/server.crt" "$tls/server.key" | sha256sum | cut -d' ' -f1)
cat >"$root/container.json" <<EOF
{
  "Image": "$image",
  "User": "$uid:$uid",
  "ExposedPorts": {"5000/tcp": {}},
  "Labels": {"dockyard.registry.config-digest": "$digest"},
  "Healthcheck": {"Test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5001/debug/health"],
                  "Interval": 30000000000, "Timeout": 5000000000, "Retries": 3, "StartPeriod": 10000000000},
  "HostConfig": {
    "PortBindings": {"5000/tcp": [{"HostIp": "$ip", "HostPort": "$port"}]},
    "Mounts": [
      {"Type": "bind", "Source": "$etc/config.yml", "Target": "/etc/docker/registry/config.yml", "ReadOnly": true},
      {"Type": "bind", "Source": "$data", "Target": "/var/lib/registry", "ReadOnly": false},
      {"Type": "bind", "Source": "$tls", "Target": "/etc/docker/registry/tls", "ReadOnly": true},
      {"Type": "bind", "Source": "$etc/htpasswd", "Target": "/etc/docker/registry/htpasswd", "ReadOnly": true}
    ],
    "RestartPolicy": {"Name": "always"},
    "ReadonlyRootfs": true,
    "Tmpfs": {"/tmp": "rw,noexec,nosuid,nodev,size=64m"},
    "CapDrop": ["ALL"],
    "SecurityOpt": ["no-new-privileges:true"],
    "Memory": 536870912,
    "NanoCpus": 1000000000,
    "PidsLimit": 256
  }
}
EOF
api() { curl -fsS --unix-socket "$socket" -H 'Content-Type: application/json' "$@"; }
api -d "@$root/container.json" "http://docker/containers/create?name=$name" >/dev/null
api -X POST "http://docker/containers/$name/start"

# The wait until the registry answers over verified TLS, as the first account.
account="dockyard:$(cat "$credentials/dockyard")"
for _ in $(seq 600); do
  curl -fsS -o /dev/null --cacert "$tls/ca.crt" -u "$account" "https://$ip:$port/v2/" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null --cacert "$tls/ca.crt" -u "$account" "https://$ip:$port/v2/"

# Trust: the CA for every client address (loopback names and addresses left out), the probe and the login where the
# host resolves the address.
for entry in ${sans//,/ }; do
  host=${entry#*:}
  case $host in localhost | *.localhost | 127.* | ::1) continue ;; esac
  address=$host:$port
  install -d -m 0755 "/etc/docker/certs.d/$address"
  install -m 0444 "$pki/ca.crt" "/etc/docker/certs.d/$address/ca.crt"
  if [ "${entry%%:*}" = IP ] || getent hosts "$host" >/dev/null; then
    curl -fsS -o /dev/null --cacert "/etc/docker/certs.d/$address/ca.crt" -u "$account" "https://$address/v2/"
    docker login -u dockyard --password-stdin "$address" <"$credentials/dockyard" >/dev/null 2>&1
  fi
done

# The smoke test.
install -d -m 0755 "$smoke"
printf '%s\n' "FROM scratch" "COPY hello.txt /hello.txt" \
  'LABEL org.opencontainers.image.title="dockyard.registry smoke test"' >"$smoke/Dockerfile"
printf 'Hello from dockyard.registry.\n' >"$smoke/hello.txt"
chmod 0644 "$smoke/Dockerfile" "$smoke/hello.txt"
docker build -q -t dockyard/smoke:1 "$smoke" >/dev/null
reference=$ip:$port/dockyard/smoke
docker tag dockyard/smoke:1 "$reference:1"
pushed=$(docker push "$reference:1" | sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p')
[ -n "$pushed" ]
docker rmi "$reference:1" >/dev/null
docker pull -q "$reference@$pushed" >/dev/null
accept="application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json"
accept+=",application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.index.v1+json"
manifest_url="https://$ip:$port/v2/dockyard/smoke/manifests/1"
head=$(curl -fsS -I --cacert "/etc/docker/certs.d/$ip:$port/ca.crt" -u "$account" -H "Accept: $accept" "$manifest_url" |
  tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
got=sha256:$(curl -fsS --cacert "/etc/docker/certs.d/$ip:$port/ca.crt" -u "$account" -H "Accept: $accept" \
  "$manifest_url" | sha256sum | cut -d' ' -f1)
[ "$head" = "$pushed" ] && [ "$got" = "$pushed" ]
docker image inspect -f '{{join .RepoDigests " "}}' "$reference@$pushed" | grep -qF "$reference@$pushed"
