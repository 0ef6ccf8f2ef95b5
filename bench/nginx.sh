# Sourced by the bench scripts: the nginx they measure against — one worker, a tiny fixed
# response, access log off, keep-alive without limits, its request counter at /nginx_status —
# on 127.0.0.1:$2, with its files in $1.
# Sets NGINX_PID and returns once nginx answers.
start_nginx() {
  local work=$1 port=$2
  cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $work;
  proxy_temp_path $work;
  fastcgi_temp_path $work;
  uwsgi_temp_path $work;
  scgi_temp_path $work;
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    location / { default_type text/plain; return 200 "hello\n"; }
    location = /nginx_status { stub_status; }
  }
}
NGINX
  nginx -c "$work/nginx.conf" -p "$work" &
  NGINX_PID=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:${port}/" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "nginx did not answer on 127.0.0.1:${port}" >&2
  return 1
}
