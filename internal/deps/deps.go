package deps

import (
	_ "github.com/MicahParks/jwkset"
	_ "github.com/MicahParks/keyfunc/v3"
	_ "github.com/gin-gonic/gin"
	_ "github.com/go-redis/redis_rate/v10"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/labstack/echo/v4"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/sony/gobreaker/v2"
	_ "go.uber.org/goleak"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/sync/singleflight"
	_ "golang.org/x/time/rate"
)
