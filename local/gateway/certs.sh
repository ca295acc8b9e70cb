# shellcheck shell=bash
# The topology's TLS material, made with openssl on first start and kept afterwards:
#   ca.pem / ca.key          a local certificate authority (clients trust ca.pem, nothing else)
#   front.pem / front.key    HAProxy's certificate for the front door (browsers, SDK clients)
#   gateway.pem / gateway.key  the NGINX gateways' certificate (HAProxy verifies it with ca.pem)
# Both leaf certificates name localhost and 127.0.0.1.
# usage (sourced): ensure_certs DIR

ensure_certs() {
  local dir="$1"
  mkdir -p "$dir"
  chmod 700 "$dir"
  if [ ! -s "$dir/ca.pem" ] || [ ! -s "$dir/ca.key" ]; then
    log "tls: creating a local certificate authority in $dir"
    rm -f "$dir"/*.pem "$dir"/*.key "$dir"/*.srl
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
      -days 825 -subj "/CN=ATLAS local CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  fi
  issue_cert "$dir" front "ATLAS front door"
  issue_cert "$dir" gateway "ATLAS gateway"
  # HAProxy reads the certificate and its key from one file.
  cat "$dir/front.pem" "$dir/front.key" >"$dir/front.bundle.pem"
  chmod 600 "$dir"/*.key "$dir/front.bundle.pem"
}

# Issues NAME.pem / NAME.key signed by the CA, unless a valid one exists already.
issue_cert() {
  local dir="$1" name="$2" cn="$3"
  if [ -s "$dir/$name.pem" ] && openssl verify -CAfile "$dir/ca.pem" "$dir/$name.pem" >/dev/null 2>&1 &&
    openssl x509 -checkend 86400 -noout -in "$dir/$name.pem" >/dev/null 2>&1; then
    return 0
  fi
  log "tls: issuing the $name certificate"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
    -subj "/CN=$cn" -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 397 -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}
