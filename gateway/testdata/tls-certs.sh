# A CA, the gateway's certificate for localhost and 127.0.0.1, and one client
# certificate, in ./tls (OpenSSL 3; for trying it out: in production, your own CA).
mkdir -p tls && cd tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=jwtgate test CA" -keyout ca.key -out ca.crt
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=localhost" -keyout server.key -out server.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -days 30 -extfile server.ext -out server.crt
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=client-1" -keyout client.key -out client.csr
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -days 30 -extfile client.ext -out client.crt
cd ..
# The client certificate's cnf["x5t#S256"], for the token your identity provider binds to it:
openssl x509 -in tls/client.crt -outform DER | openssl dgst -sha256 -binary | basenc --base64url | tr -d '='
