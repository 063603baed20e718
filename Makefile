# Thin wrapper over scripts/ (the scripts are the source of truth).
BUILD_DIR ?= build
export BATON_BUILD_DIR := $(abspath $(BUILD_DIR))

.PHONY: all deps build demo test bench chaos up down clean

all: build

deps:
	scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	ninja -C $(BUILD_DIR)

demo: build
	scripts/stack.sh demo

test:
	scripts/test.sh

bench:
	scripts/bench.sh

# Long randomized fault run (CHAOS_SECONDS, default 300; CHAOS_SEED to replay).
chaos:
	scripts/chaos.sh

up: build
	scripts/stack.sh up

down:
	scripts/stack.sh down

clean: down
	rm -rf $(BUILD_DIR) .baton
