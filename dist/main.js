import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-QN24NK24.js";import{g as r}from"./chunks/chunk-WR37RGZE.js";import"./chunks/chunk-R3CRRY7R.js";import"./chunks/chunk-KHE6JB3F.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
