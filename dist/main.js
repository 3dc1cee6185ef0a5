import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-UWUMWOV2.js";import{g as r}from"./chunks/chunk-ORN2SRG2.js";import"./chunks/chunk-GAN47MI6.js";import"./chunks/chunk-72O3HK4F.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
