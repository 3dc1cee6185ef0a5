import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-EKCYKUAR.js";import{g as r}from"./chunks/chunk-UGVBB5LI.js";import"./chunks/chunk-JHZTTOXI.js";import"./chunks/chunk-6EL7VSEI.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
