#!/usr/bin/env bash
# The floor of comparison 1 of `make bench`: what site.yml does on one machine, by hand. A CA, a server key and a
# certificate with SANs (the machine's address and name), a TLS registry container of the local registry image,
# a wait until /v2/ answers over verified TLS, and the CA into certs.d. Everything it makes goes again on exit.
# Usage: floor_deploy.sh <ip> <port> <image>   (container dockyard-bench-floor-<port>)
set -euo pipefail
ip=$1 port=$2 image=$3
name=dockyard-bench-floor-$port
work=$(mktemp -d /tmp/dockyard-bench-floor.XXXXXX)
certs_d=/etc/docker/certs.d/$ip:$port
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$work" "$certs_d"
}
trap cleanup EXIT
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 3650 \
  -subj "/CN=dockyard bench floor CA" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
  -subj "/CN=$ip" 2>/dev/null
printf 'subjectAltName=IP:%s,DNS:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
  "$ip" "$(hostname)" >ext.cnf
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 397 -extfile ext.cnf \
  -out server.crt 2>/dev/null
chmod 0444 server.key  # read by the registry's user inside the container
mkdir -p data
docker run -d --name "$name" -p "$ip:$port:5000" -v "$work/server.crt:/certs/server.crt:ro" \
  -v "$work/server.key:/certs/server.key:ro" -v "$work/data:/var/lib/registry" \
  -e REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server.crt -e REGISTRY_HTTP_TLS_KEY=/certs/server.key \
  -e REGISTRY_HTTP_SECRET="$(openssl rand -hex 16)" "$image" >/dev/null
for _ in $(seq 100); do
  curl -fsS --cacert ca.crt "https://$ip:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS --cacert ca.crt "https://$ip:$port/v2/" >/dev/null
mkdir -p "$certs_d"
install -m 0444 ca.crt "$certs_d/ca.crt"
